"""Does computing the int8 file's output layer in float32 change how it agrees with the SavedModel?

`export.convert_tflite(..., "int8")` leaves the output Dense and its sigmoid/softmax in float32
(`TFLiteVariant.float_output`, helper-70); `int8_sparse`'s path, and the int8 file before that
change, quantize the whole model, so the logit is int8 and the probabilities take a few steps.
For a pushed version, this converts its SavedModel both ways (calibrated on 200 files of its train
split, from its data_splits.csv, prepared as MODEL.md says) and compares each file's classes with
the SavedModel's on images that never shaped the model: Fashion-MNIST *train*-file records of the
version's classes whose index no file under `--data-root` carries (`train-NNNNN.*`), and
optionally a validation folder.

    .venv/bin/python benchmarks/int8_output.py --version-dir outputs/x/serving/<v> \\
        --data-root data/fashion_binary [--validation-dir data/fashion_binary/eval] [--fresh 3000]

Prints per conversion and sample: disagreements with the SavedModel (agreement and its Wilson
95 % interval), the lowest per-class agreement, exact top-probability ties, distinct top
probabilities and the file's bytes; last line
`n= whole_disagree= float_output_disagree= whole_ties= float_output_ties=` (the fresh sample).
TensorFlow's interpreter runs the files (the parity gate shows it and LiteRT agree to the digit).
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import glob  # noqa: E402
import gzip  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
from typing import Dict, List, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

SOURCE = "/usr/share/datasets/fashion-mnist"
LABELS = ("tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
          "bag", "ankle_boot")  # the record labels 0-9, named as data/build_dataset.py does
TRAIN_RECORD = re.compile(r"train-(\d{5})\.")


def used_records(data_root: str) -> set:
    """Indices of train-file records any file under `data_root` holds (`train-NNNNN.<ext>`)."""
    return {int(m.group(1)) for path in glob.glob(os.path.join(data_root, "**", "*"),
                                                  recursive=True)
            for m in [TRAIN_RECORD.search(os.path.basename(path))] if m}


def fresh_records(labels: np.ndarray, class_names: Sequence[str], used: set, n: int,
                  seed: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """(record indices [n], class index in `class_names` [n]): a seeded draw among the records
    of those classes that are not in `used`."""
    wanted = [LABELS.index(c) for c in class_names]
    pool = np.array([i for i in np.flatnonzero(np.isin(labels, wanted)) if i not in used])
    picked = np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False)
    return picked, np.array([wanted.index(int(labels[i])) for i in picked])


def train_files(version_dir: str, data_root: str) -> List[str]:
    """The files the version's train split held (its data_splits.csv), under `data_root`; for
    a version without that listing, every `train-NNNNN.*` file under `data_root` (on a
    hash-split tree those include validation and test files: helper-72)."""
    import csv
    listing = os.path.join(version_dir, "data_splits.csv")
    if os.path.isfile(listing):
        with open(listing, encoding="utf-8") as f:
            return sorted(os.path.join(data_root, row["path"]) for row in csv.DictReader(f)
                          if row["split"] == "train" and row["read"] == "yes")
    return sorted(q for q in glob.glob(os.path.join(data_root, "**", "*"), recursive=True)
                  if TRAIN_RECORD.search(os.path.basename(q)))


def compare(probs: np.ndarray, reference: np.ndarray, classes: np.ndarray
            ) -> Dict[str, float]:
    """Class agreement of `probs` with `reference` ([N, K] each; [N, 1] sigmoid), overall and
    lowest per class, exact ties and distinct values of the deciding score."""
    from modules.metrics import output_values, predicted_class, top_ties
    same = predicted_class(probs) == predicted_class(reference)
    per_class = [float(np.mean(same[classes == c])) for c in np.unique(classes)]
    return {"n": int(len(same)), "disagree": int(np.sum(~same)),
            "lowest_class": min(per_class), "ties": int(round(top_ties(probs) * len(probs))),
            "distinct": output_values(probs)["distinct"]}


def _read_idx(name: str, offset: int) -> np.ndarray:
    with gzip.open(os.path.join(SOURCE, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main(argv: List[str] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--version-dir", required=True, help="a pushed serving/<version> folder")
    p.add_argument("--data-root", required=True, help="the tree the version was trained on")
    p.add_argument("--validation-dir", default="", help="<dir>/<class>/* scored as well")
    p.add_argument("--fresh", type=int, default=3000)
    args = p.parse_args(argv)
    import tensorflow as tf
    from PIL import Image

    from modules import export, tflite_variants
    from modules.litert_runner import preprocess
    from modules.metrics import wilson_interval
    with open(os.path.join(args.version_dir, "labels.txt"), encoding="utf-8") as f:
        class_names = [line.rstrip("\n") for line in f if line.strip()]
    size = int(tf.saved_model.load(os.path.join(args.version_dir, "saved_model"))
               .signatures["serving_image"].structured_input_signature[1]["image_xf"].shape[1])
    images = _read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = _read_idx("train-labels-idx1-ubyte.gz", 8)
    records, fresh_y = fresh_records(labels, class_names, used_records(args.data_root),
                                     args.fresh)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in records:  # as a client gets them: image files, prepared as MODEL.md says
            paths.append(os.path.join(tmp, f"train-{i:05d}.png"))
            Image.fromarray(images[i]).save(paths[-1])
        samples = {"fresh": (np.stack([preprocess(q, size, size) for q in paths]), fresh_y)}
    if args.validation_dir:
        files = sorted(glob.glob(os.path.join(args.validation_dir, "*", "*")))
        samples["validation"] = (np.stack([preprocess(q, size, size) for q in files]),
                                 np.array([class_names.index(os.path.basename(os.path.dirname(q)))
                                           for q in files]))
    train = train_files(args.version_dir, args.data_root)
    calibration = np.stack([preprocess(q, size, size) for q in np.random.default_rng(0).choice(
        train, min(200, len(train)), replace=False)])
    saved_model = os.path.join(args.version_dir, "saved_model")
    reference = {name: export.load_image_signature(saved_model)(x) for name, (x, _) in
                 samples.items()}
    int8 = tflite_variants.VARIANTS["int8"]
    results = {}
    print(f"{args.version_dir}: classes {class_names}, {size}x{size}; fresh records "
          f"{len(records)} of the train file (none under {args.data_root})")
    print("| conversion | sample | n | disagree | agreement (95 %) | lowest class | ties | "
          "distinct | bytes |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for name, float_output in (("whole", False), ("float_output", True)):
        tflite_variants.VARIANTS["int8"] = dataclasses.replace(int8, float_output=float_output)
        try:
            content = export.convert_tflite(saved_model, "int8", lambda: calibration[:, None])
        finally:
            tflite_variants.VARIANTS["int8"] = int8
        model = export.TFLiteModel(content)
        for sample, (x, y) in samples.items():
            r = compare(model.predict(x), reference[sample], y)
            lo, hi = wilson_interval(r["n"] - r["disagree"], r["n"])
            results[(name, sample)] = r
            print(f"| {name} | {sample} | {r['n']} | {r['disagree']} | "
                  f"{1 - r['disagree'] / r['n']:.4f} ({lo:.4f}-{hi:.4f}) | "
                  f"{r['lowest_class']:.4f} | {r['ties']} | {r['distinct']} | {len(content)} |")
    w, f = results[("whole", "fresh")], results[("float_output", "fresh")]
    print(f"n={w['n']} whole_disagree={w['disagree']} float_output_disagree={f['disagree']} "
          f"whole_ties={w['ties']} float_output_ties={f['ties']}")


if __name__ == "__main__":
    main()

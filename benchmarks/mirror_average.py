"""Measurement behind rule 11 (docs/results.md): would the served model gain from averaging
each image's probabilities with its horizontal mirror's (test-time mirroring)?

Per development tree (`benchmarks/trainer_variants.build_dev_tree`: Fashion-MNIST *train* images
only, drawn with the tree's sampling seed; never the reported t10k test splits) and seed, it runs
the whole pipeline (`benchmarks/peer_recipe.pipeline_run`: `python -m pipeline run --profile
quick`, Tuner included) and scores the Trainer's SavedModel (its `serving_image` signature after
the run's own Transform graph) on the tree's validation (eval/) and dev-test (test/) images twice:
as trained, and with each image's probabilities averaged with its mirror's (width reversed after
Transform). The two scores come from the same model, so their paired difference has no training
noise. The plain dev-test figure must equal the run's TFMA accuracy (checked, printed).

    .venv/bin/python benchmarks/mirror_average.py --trees 7,8,9,10,11 --seeds 2

Prints one line per run, then the mean paired difference (points) with its 95 % t-interval,
per tree and over all runs.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import argparse  # noqa: E402
import glob  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402


def split_files(root: str, split: str) -> Tuple[List[str], np.ndarray]:
    """Image paths of `<root>/<split>/<class>/*` and their labels (index in the sorted class
    folders, as the pipeline numbers them)."""
    classes = sorted(os.listdir(os.path.join(root, "train")))
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(glob.glob(os.path.join(root, split, name, "*")))
        paths += found
        labels += [label] * len(found)
    return paths, np.array(labels)


def scores(output_root: str, root: str, split: str) -> Dict[str, float]:
    """Accuracy of the run's Trainer model on `split`: as trained ('plain') and with each
    image's probabilities averaged with its mirror's ('mirror_average')."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from modules.features import IMAGE_KEY, IMAGE_SIGNATURE, OUTPUT_KEY, RAW_IMAGE_KEY
    model_dir = glob.glob(os.path.join(output_root, "pipeline_root", "Trainer", "model", "*",
                                       "Format-Serving"))[0]
    graph_dir = glob.glob(os.path.join(output_root, "pipeline_root", "Transform",
                                       "transform_graph", "*"))[0]
    transform = tft.TFTransformOutput(graph_dir)
    layer = transform.transform_features_layer()
    shape = transform.raw_feature_spec()[RAW_IMAGE_KEY].shape
    serve = tf.saved_model.load(model_dir).signatures[IMAGE_SIGNATURE]
    paths, labels = split_files(root, split)
    plain, mirrored = [], []
    for start in range(0, len(paths), 128):
        blobs = [open(p, "rb").read() for p in paths[start:start + 128]]
        raw = tf.reshape(tf.constant(blobs), [-1, *shape])
        images = layer({RAW_IMAGE_KEY: raw})[IMAGE_KEY]
        plain.append(serve(**{IMAGE_KEY: images})[OUTPUT_KEY].numpy())
        mirrored.append(serve(**{IMAGE_KEY: tf.reverse(images, axis=[2])})[OUTPUT_KEY].numpy())
    p, m = np.concatenate(plain), np.concatenate(mirrored)

    def accuracy(probs: np.ndarray) -> float:
        predicted = (probs[:, 0] > 0.5).astype(int) if probs.shape[1] == 1 else probs.argmax(-1)
        return float(np.mean(predicted == labels))
    return {"plain": accuracy(p), "mirror_average": accuracy((p + m) / 2), "n": len(labels)}


def half_width(values: List[float]) -> float:
    from peer_recipe import t_half_width
    return t_half_width(values)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", default="7,8,9,10,11", help="development trees' sampling seeds")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--set", dest="extra", action="append", default=[],
                   help="extra pipeline override, repeatable")
    args = p.parse_args(argv)
    from peer_recipe import log, pipeline_run
    from trainer_variants import build_dev_tree
    work = tempfile.mkdtemp(prefix="bench-mirror-")
    diffs: Dict[int, List[float]] = {}
    try:
        for tree in [int(t) for t in args.trees.split(",")]:
            root = build_dev_tree(os.path.join(work, f"tree{tree}"), tree)
            for seed in range(args.seeds):
                run = pipeline_run(root, seed, work, args.extra, keep=True)
                val = scores(run["output_root"], root, "eval")
                test = scores(run["output_root"], root, "test")
                shutil.rmtree(run["output_root"], ignore_errors=True)
                diff = 100 * (test["mirror_average"] - test["plain"])
                diffs.setdefault(tree, []).append(diff)
                log(f"tree {tree} seed {seed}: dev-test plain {test['plain']:.4f} (TFMA "
                    f"{run['accuracy']:.4f}) mirror-averaged {test['mirror_average']:.4f} "
                    f"({diff:+.2f} pt, n={test['n']}); validation plain {val['plain']:.4f} "
                    f"mirror-averaged {val['mirror_average']:.4f}; whole run "
                    f"{run['seconds']:.0f} s")
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    every = [d for ds in diffs.values() for d in ds]
    for tree, ds in diffs.items():
        print(f"tree {tree}: mirror-averaged - plain {statistics.fmean(ds):+.2f} pt "
              f"({', '.join(f'{d:+.2f}' for d in ds)})")
    print(f"all {len(every)} runs: mirror-averaged - plain {statistics.fmean(every):+.2f} "
          f"± {half_width(every):.2f} pt (95 %; SD "
          f"{statistics.stdev(every) if len(every) > 1 else float('nan'):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

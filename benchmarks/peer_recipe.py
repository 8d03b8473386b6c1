"""Benchmark: the pipeline's quick profile vs a plain Keras transfer-learning script, same folders.

The plain recipe (`recipe_run`, a few dozen lines of ordinary Keras, none of the project's code):
Pillow decode with alpha composited on white, bilinear resize, `vgg16.preprocess_input`, VGG16
ImageNet frozen, GlobalAveragePooling -> Dense(256, relu) -> Dropout(0.5) -> softmax, Adam 1e-3
for 10 epochs, then block5 unfrozen at 1e-5 for 5 epochs. It fits on the train split only (the
same files the pipeline trains on) and never sees validation or test data.

The pipeline: `python -m pipeline run --profile quick --set data.root=<tree> --set seed=<s>` in a
child process on a fresh output root (so every component really runs); its accuracy is TFMA's on
the held-out test split; its time is the whole run's wall time (ExampleGen to push, TFLite
conversion and the LiteRT parity gate included), with the Tuner + Trainer share beside it.

Both are scored on the same test split (pipeline/data_layout.py: `test/` when the tree has one,
else `eval/`), over `--seeds` seeds each; per data set it prints each run, the means with a 95 %
t-interval of the paired difference, and the last line
`pipeline_acc= recipe_acc= delta_pt= time_ratio=` (means over seeds and data sets).

Data sets: the embedded pair (data/fashion_binary: train / eval = validation / test) and a
3-class tree of real Fashion-MNIST images stored the way strangers' folders are (RGB at odd sizes,
RGBA on transparent canvases, grayscale + alpha, JPEG; built with
`data/build_dataset.py --classes pullover,coat,shirt --mixed-formats`, needs the Debian package).

`--tree DIR` runs it on your own image folder (any layout the pipeline takes, any number of
classes): the recipe fits on the files the pipeline's train role holds (a validation split carved
from train/ is left out of both fits' training data) and both are scored on the pipeline's test
files. `--dev-tree SEED` runs the same comparison on a development tree instead
(`benchmarks/trainer_variants.build_dev_tree`: Fashion-MNIST *train* images only, drawn with SEED),
so that a default can be chosen on the whole pipeline without either reported test split.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import argparse  # noqa: E402
import glob  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402

MULTICLASS = ("pullover", "coat", "shirt")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ the plain recipe

def load_folder(root: str, split: str, classes: List[str], size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pillow decode, alpha over white, RGB, bilinear resize: float32 [N, size, size, 3], labels."""
    paths = [(label, path) for label, name in enumerate(classes)
             for path in sorted(glob.glob(os.path.join(root, split, name, "*")))]
    return load_images(paths, size)


def load_images(paths: List[Tuple[int, str]], size: int) -> Tuple[np.ndarray, np.ndarray]:
    """(label, path) pairs decoded as `load_folder` decodes: float32 [N, size, size, 3] and int
    labels [N]. A file Pillow cannot read is skipped with a line (the pipeline quarantines it)."""
    from PIL import Image
    images, labels = [], []
    for label, path in paths:
        try:
            img = Image.open(path)
            img.load()
        except Exception as e:  # pylint: disable=broad-except  (a user's tree: skip, say so)
            log(f"recipe: skipped {path}: {type(e).__name__}: {e}")
            continue
        if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        img = img.convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(np.asarray(img, np.float32))
        labels.append(label)
    return np.stack(images), np.array(labels)


def tree_roles(root: str, extra: List[str]) -> Tuple[List[str], Dict[str, List[Tuple[int, str]]]]:
    """A user's tree as the pipeline splits it (its config loader and
    `data_layout.files_by_split`: a validation split carved from train/, a folder of class
    folders hash-split, the newest span): (class names, {role: [(label, absolute path)]}), so
    the recipe fits on exactly the pipeline's train files and both score its test files."""
    from pipeline import data_layout
    from pipeline.config import load_config
    from pipeline.config.validate import newest_span
    config = load_config(overrides=[f"data.root={root}", *extra])
    classes = list(config.data.class_names)
    files = data_layout.files_by_split(config.data_root, config.split_layout,
                                       newest_span(config))
    return classes, {role: [(classes.index(data_layout.class_of(rel)),
                             os.path.join(config.data_root, rel))
                            for rel in sorted(rels) if data_layout.class_of(rel) in classes]
                     for role, rels in files.items()}


def recipe_run(root: str, train_split: str, test_split: str, classes: List[str], size: int,
               weights: str, seed: int,
               roles: Dict[str, List[Tuple[int, str]]] = None) -> Dict[str, float]:
    """The plain recipe fit on `root/train_split` and scored on `root/test_split`, or, given
    `roles` (`tree_roles`), on its train and test files."""
    import tf_keras as keras
    started = time.time()
    keras.utils.set_random_seed(seed)
    if roles is not None:
        x_train, y_train = load_images(roles["train"], size)
        x_test, y_test = load_images(roles["test"], size)
    else:
        x_train, y_train = load_folder(root, train_split, classes, size)
        x_test, y_test = load_folder(root, test_split, classes, size)
    prep = keras.applications.vgg16.preprocess_input
    base = keras.applications.VGG16(include_top=False, weights=weights,
                                    input_shape=(size, size, 3))
    base.trainable = False
    inputs = keras.Input((size, size, 3))
    x = base(prep(inputs), training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(len(classes), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=0)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith("block5")
    model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)
    probs = model.predict(x_test, verbose=0)
    accuracy = float(np.mean(probs.argmax(-1) == y_test))
    return {"accuracy": accuracy, "seconds": time.time() - started, "test_examples": len(y_test),
            "failed_gates": failed_default_gates(y_test, probs, classes)}


def failed_default_gates(labels: np.ndarray, probs: np.ndarray, classes: List[str]) -> List[str]:
    """The pipeline's default absolute gates (EvaluatorConfig: accuracy, AUC — macro
    one-vs-rest for 3+ classes — and every class's recall, which for 2 classes is recall and
    specificity) applied to a model's test predictions `probs` [N, K] for `labels` [N]; the
    failing ones as 'name value < bound' (empty: it would be blessed at those gates, the change
    gate aside). The recipe's models are not gated by the script itself."""
    from benchmarks.auc_thresholds import exact_auc
    from pipeline.config.schema import EvaluatorConfig
    bounds = EvaluatorConfig()
    predicted = probs.argmax(-1)
    auc = exact_auc(labels, probs[:, 1:2] if probs.shape[1] == 2 else probs)
    values = [("accuracy", float(np.mean(predicted == labels)), bounds.accuracy_lower_bound),
              ("auc", auc, bounds.auc_lower_bound)]
    for k, name in enumerate(classes):
        recall = float(np.mean(predicted[labels == k] == k)) if np.any(labels == k) else 0.0
        values.append((f"recall({name})", recall,
                       bounds.class_recall.get(name, bounds.min_class_recall)))
    return [f"{name} {value:.4f} < {bound}" for name, value, bound in values if value < bound]


# ------------------------------------------------------------------ the pipeline

def pipeline_run(root: str, seed: int, work: str, extra: List[str],
                 keep: bool = False) -> Dict[str, float]:
    """One `python -m pipeline run --profile quick` on a fresh output root under `work`; its
    TFMA test accuracy, whole-run seconds, Tuner + Trainer seconds, blessing and test count.
    The output root is removed afterwards unless `keep` (then `output_root` names it)."""
    out = os.path.join(work, f"out-{seed}")
    args = [sys.executable, "-m", "pipeline", "run", "--profile", "quick",
            "--set", f"data.root={root}", "--set", f"output.root={out}",
            # tuner.seed must be >= 1 (keras-tuner takes 0 as "no seed"): search seed = seed + 1
            "--set", f"seed={seed}", "--set", f"tuner.seed={seed + 1}"]
    for item in extra:
        args += ["--set", item]
    started = time.time()
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    seconds = time.time() - started
    if proc.returncode not in (0, 4):  # 4: refused by a gate after training (still scored)
        raise RuntimeError(f"pipeline run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    from pipeline.summary import run_summary
    summary = run_summary(os.path.join(out, "metadata.sqlite"))
    metrics = summary["metrics"]
    accuracy = metrics.get("binary_accuracy", metrics.get("sparse_categorical_accuracy"))
    phases = component_seconds(proc.stdout)
    log(f"  pipeline validation trail (seed {seed}): {validation_trail(out)}")
    log(f"  pipeline seconds per component (seed {seed}): "
        + ", ".join(f"{name} {sec:.0f}" for name, sec in phases.items()))
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return {"accuracy": float(accuracy), "seconds": seconds, "blessed": summary["blessed"],
            "output_root": out,
            "test_examples": int(metrics.get("example_count", 0)),
            "tuner_trainer_seconds": phases.get("Tuner", 0.0) + phases.get("Trainer", 0.0)}


def validation_trail(out: str) -> str:
    """The Trainer's own record, on the validation role only: tuned hyperparameters and the
    validation accuracy after phase 1, each phase-2 step (kept or undone) and pruning."""
    import json
    paths = glob.glob(os.path.join(out, "pipeline_root", "Trainer", "model", "*",
                                   "training_summary.json"))
    if not paths:
        return "no training_summary.json"
    with open(paths[0], encoding="utf-8") as f:
        s = json.load(f)
    hp = {k: v for k, v in s.get("hyperparameters", {}).items() if k != "source"}
    parts = [f"hp={hp}", f"phase1={s['phase1']['validation']['accuracy']:.4f} "
             f"({s['phase1'].get('epochs_run')} epochs)"]
    for step in s.get("phase2", {}).get("steps", []):
        parts.append(f"phase2[{step['unfrozen_blocks']}]={step['validation']['accuracy']:.4f}"
                     f"{'' if step.get('kept', True) else ' undone'}")
    fallback = s.get("pruning", {}).get("fallback")
    if fallback:
        parts.append(f"fallback(dense={fallback['dense_accuracy']:.4f} "
                     f"first={fallback['accuracy']:.4f}"
                     + (f" second({fallback['second_retrain_blocks']} blocks)="
                        f"{fallback['second_accuracy']:.4f}"
                        if fallback.get("ran") else " not run")
                     + f" kept={fallback['kept']})")
    parts.append(f"final={s.get('final_validation', {}).get('accuracy', float('nan')):.4f}")
    if s.get("seconds"):
        parts.append("seconds " + ", ".join(f"{k} {v:.0f}" for k, v in s["seconds"].items()))
    return " ".join(parts)


def component_seconds(console: str) -> Dict[str, float]:
    """'Trainer ... done in 24.4 s' lines of the quiet console -> {component: seconds}."""
    out = {}
    for line in console.splitlines():
        if " ... done in " in line:
            name = line.split("]", 1)[-1].split(" ... ")[0].strip()
            out[name] = float(line.rsplit("done in ", 1)[1].split(" s")[0])
    return out


# ------------------------------------------------------------------ data sets and report

def test_split_of(root: str) -> str:
    return "test" if os.path.isdir(os.path.join(root, "test")) else "eval"


def classes_of(root: str) -> List[str]:
    return sorted(d for d in os.listdir(os.path.join(root, "train"))
                  if os.path.isdir(os.path.join(root, "train", d)))


def build_multiclass(out: str, args) -> str:
    subprocess.run([sys.executable, os.path.join(REPO, "data", "build_dataset.py"),
                    "--classes", ",".join(MULTICLASS), "--train-per-class",
                    str(args.train_per_class), "--eval-per-class", "100", "--test-per-class",
                    "300", "--mixed-formats", "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def t_half_width(values: List[float]) -> float:
    """The 95 % t-interval's half width of the mean of `values`; nan for fewer than two values
    or any nan (`--skip-recipe`: no recipe, no delta)."""
    if len(values) < 2 or any(np.isnan(v) for v in values):
        return float("nan")
    from scipy import stats
    return float(stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values)
                 / np.sqrt(len(values)))


def report(name: str, rows: List[Dict[str, float]]) -> Dict[str, float]:
    print()
    print(f"{name}: test split, {rows[0]['test_examples']} images")
    print("| seed | pipeline acc | recipe acc | delta (pt) | pipeline s (tuner+trainer s) | "
          "recipe s | blessed | recipe at the default gates |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        gates = r.get("recipe_failed_gates")
        print(f"| {r['seed']} | {r['pipeline_acc']:.4f} | {r['recipe_acc']:.4f} | "
              f"{r['delta_pt']:+.2f} | {r['pipeline_s']:.0f} ({r['tuner_trainer_s']:.0f}) | "
              f"{r['recipe_s']:.0f} | "
              f"{'n/a' if np.isnan(r['pipeline_acc']) else 'yes' if r['blessed'] else 'NO'} | "
              f"{'n/a' if gates is None else ('pass' if not gates else 'FAIL ' + '; '.join(gates))} |")
    mean = {k: statistics.fmean(r[k] for r in rows) for k in
            ("pipeline_acc", "recipe_acc", "delta_pt", "pipeline_s", "recipe_s",
             "tuner_trainer_s")}
    ci = t_half_width([r["delta_pt"] for r in rows])
    print(f"| mean | {mean['pipeline_acc']:.4f} | {mean['recipe_acc']:.4f} | "
          f"{mean['delta_pt']:+.2f} ± {ci:.2f} (95 %) | {mean['pipeline_s']:.0f} "
          f"({mean['tuner_trainer_s']:.0f}) | {mean['recipe_s']:.0f} | |")
    print(f"time ratio (pipeline whole run / recipe): {mean['pipeline_s'] / mean['recipe_s']:.2f}; "
          f"(pipeline Tuner + Trainer / recipe): "
          f"{mean['tuner_trainer_s'] / mean['recipe_s']:.2f}")
    return {**mean, "ci": ci}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds FIRST .. FIRST+SEEDS-1 (e.g. --first-seed 5 --seeds 5 adds five "
                        "seeds to an earlier --seeds 5 run)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--train-per-class", type=int, default=300,
                   help="train images per class of the 3-class tree")
    p.add_argument("--only", choices=["pair", "multiclass"], help="one data set only")
    p.add_argument("--set", dest="extra", action="append", default=[],
                   help="extra pipeline override (e.g. trainer.epochs=5), repeatable")
    p.add_argument("--skip-recipe", action="store_true", help="pipeline runs only")
    p.add_argument("--skip-pipeline", action="store_true",
                   help="recipe runs only (its accuracy and the default gates it would pass)")
    p.add_argument("--tree", metavar="DIR",
                   help="your own image folder instead (any layout `python -m pipeline run "
                        "--set data.root=DIR` takes): the recipe fits on the pipeline's train "
                        "files and both are scored on its test files")
    p.add_argument("--dev-tree", type=int, metavar="SAMPLING_SEED",
                   help="run on a development tree of benchmarks/trainer_variants.py instead "
                        "(Fashion-MNIST train images only, drawn with this seed; 7 is the one "
                        "docs/results.md uses): for choosing defaults without the reported "
                        "test splits")
    args = p.parse_args(argv)
    from pipeline import weights as provisioning  # the same ImageNet file for both arms
    info = provisioning.load_vgg16_weights_info() or provisioning.provision_vgg16_weights()
    weights = info.path
    work = tempfile.mkdtemp(prefix="bench-peer-")
    try:
        sets = []
        if args.tree:
            sets.append((f"your tree {os.path.abspath(args.tree)}", os.path.abspath(args.tree)))
        elif args.dev_tree is not None:
            from trainer_variants import build_dev_tree
            sets.append((f"development tree (Fashion-MNIST train images, sampling seed "
                         f"{args.dev_tree}; not a reported figure)",
                         build_dev_tree(os.path.join(work, "dev3"), args.dev_tree)))
        elif args.only != "multiclass":
            sets.append(("embedded pair (data/fashion_binary)",
                         os.path.join(REPO, "data", "fashion_binary")))
        if args.only != "pair" and args.dev_tree is None and not args.tree:
            sets.append((f"3-class mixed-format tree ({', '.join(MULTICLASS)})",
                         build_multiclass(os.path.join(work, "fmnist3_mixed"), args)))
        summaries = []
        for name, root in sets:
            roles = None
            if args.tree:
                classes, roles = tree_roles(root, args.extra)
                log(f"{name}: {len(classes)} classes; the pipeline's files per role: "
                    + ", ".join(f"{r} {len(v)}" for r, v in roles.items()))
            else:
                classes = classes_of(root)
            rows = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                pipe = {"accuracy": float("nan"), "seconds": float("nan"), "blessed": False,
                        "tuner_trainer_seconds": float("nan"), "test_examples": 0}
                if not args.skip_pipeline:
                    log(f"{name}: seed {seed}: pipeline")
                    pipe = pipeline_run(root, seed, work, [f"model.image_size={args.image_size}",
                                                           *args.extra])
                recipe = {"accuracy": float("nan"), "seconds": float("nan")}
                if not args.skip_recipe:
                    log(f"{name}: seed {seed}: recipe")
                    recipe = recipe_run(root, "train", test_split_of(root), classes,
                                        args.image_size, weights, seed, roles)
                rows.append({"seed": seed, "pipeline_acc": pipe["accuracy"],
                             "recipe_acc": recipe["accuracy"],
                             "delta_pt": 100 * (pipe["accuracy"] - recipe["accuracy"]),
                             "pipeline_s": pipe["seconds"], "recipe_s": recipe["seconds"],
                             "tuner_trainer_s": pipe["tuner_trainer_seconds"],
                             "blessed": pipe["blessed"],
                             "test_examples": pipe["test_examples"] or recipe.get("test_examples", 0),
                             "recipe_failed_gates": recipe.get("failed_gates")})
                if recipe.get("failed_gates") is not None:
                    log(f"{name}: seed {seed}: recipe at the pipeline's default gates: "
                        + ("; ".join(recipe["failed_gates"]) or "all pass"))
                log(f"{name}: seed {seed}: pipeline {pipe['accuracy']:.4f} in "
                    f"{pipe['seconds']:.0f}s, recipe {recipe['accuracy']:.4f} in "
                    f"{recipe['seconds']:.0f}s")
            summaries.append(report(name, rows))
        mean = {k: statistics.fmean(s[k] for s in summaries) for k in summaries[0]}
        print()
        print(f"pipeline_acc={mean['pipeline_acc']:.4f} recipe_acc={mean['recipe_acc']:.4f} "
              f"delta_pt={mean['delta_pt']:+.2f} "
              f"time_ratio={mean['pipeline_s'] / mean['recipe_s']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

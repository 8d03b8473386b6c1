"""Development benchmark: the pipeline's Trainer code vs the plain Keras recipe on a DEVELOPMENT
tree, so that choices are made without the benchmark's reported test split.

The tree (built here with `data/build_dataset.py --seed 7 --mixed-formats`, then split by file)
holds only Fashion-MNIST *train* images: 300 train, 100 validation and 600 test images per class
of pullover / coat / shirt; `benchmarks/peer_recipe.py` reports on t10k images, which this never
reads. Per seed it runs `benchmarks/peer_recipe.recipe_run` and, per variant, `modules.trainer.
train` (the Trainer's phases 1, 2 and pruning, exactly as run_fn calls it, on Transform's decode)
with the quick profile plus the variant's `--set` overrides at a fixed learning rate (the Tuner
is not part of this), and scores each final model on the development test split.

    .venv/bin/python benchmarks/trainer_variants.py --seeds 3 \
        --variant quick= --variant noprune=trainer.pruning.enabled=false [--lr 1e-3]

Prints one JSON line per run, then per variant: mean dev-test accuracy, the paired difference
from the recipe with its 95 % t-interval.
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
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List  # noqa: E402

CLASSES = ("pullover", "coat", "shirt")
SPLIT_SIZES = (("train", 300), ("eval", 100), ("test", 600))


def build_dev_tree(out: str, sampling_seed: int = 7) -> str:
    """1000 Fashion-MNIST train images per class (`sampling_seed`, 7 for the tree every figure
    in docs/results.md was measured on; mixed formats), split by a seeded shuffle of the file
    names into train / eval (validation) / test."""
    raw = out + "-raw"
    subprocess.run([sys.executable, os.path.join(REPO, "data", "build_dataset.py"), "--classes",
                    ",".join(CLASSES), "--train-per-class", "1000", "--eval-per-class", "1",
                    "--test-per-class", "0", "--mixed-formats", "--seed", str(sampling_seed),
                    "--out", raw],
                   check=True, stdout=subprocess.DEVNULL)
    for cls in CLASSES:
        files = sorted(os.listdir(os.path.join(raw, "train", cls)))
        random.Random(cls).shuffle(files)
        start = 0
        for split, n in SPLIT_SIZES:
            os.makedirs(os.path.join(out, split, cls), exist_ok=True)
            for name in files[start:start + n]:
                shutil.copy(os.path.join(raw, "train", cls, name), os.path.join(out, split, cls))
            start += n
    shutil.rmtree(raw)
    return out


def trainer_run(root: str, overrides: List[str], seed: int, lr: float, weights: str,
                arrays) -> Dict[str, float]:
    import tf_keras

    from modules import trainer
    from modules.configs import RunConfig
    from modules.data import arrays_dataset
    from modules.training import compile_model, evaluate
    from pipeline.config.load import load_config
    from pipeline.pipeline import module_config
    cfg = load_config(profile="quick", overrides=[f"data.root={root}", *overrides])
    run_cfg = RunConfig.from_dict(module_config(cfg, weights, "imagenet"))
    run_cfg.seed = seed
    (xt, yt), (xv, yv), (xs, ys) = arrays
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(seed)
    started = time.time()
    model, summary = trainer.train(run_cfg, {"learning_rate": lr, "batch_size": 32},
                                   arrays_dataset(xt, yt, 32, True, seed),
                                   arrays_dataset(xv, yv, 256, False, seed), yt)
    compile_model(model, lr, len(run_cfg.class_names))
    return {"accuracy": evaluate(model, arrays_dataset(xs, ys, 256, False, seed))["accuracy"],
            "validation": summary["final_validation"]["accuracy"],
            "seconds": time.time() - started, "phase_seconds": summary["seconds"],
            "phase2_features_cached": [step.get("features_cached") for step in
                                       summary.get("phase2", {}).get("steps", [])]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3, help="phase 1 learning rate (no Tuner)")
    p.add_argument("--variant", action="append", default=[],
                   help="NAME=KEY=VALUE[,KEY=VALUE...] (quick profile overrides; NAME= for none)")
    args = p.parse_args(argv)
    variants = {}
    for item in args.variant or ["quick="]:
        name, _, sets = item.partition("=")
        variants[name] = [s for s in sets.split(",") if s]
    import peer_recipe
    from pipeline import weights as provisioning
    from benchmarks.image_tree import load_split
    weights = (provisioning.load_vgg16_weights_info() or provisioning.provision_vgg16_weights()).path
    work = tempfile.mkdtemp(prefix="bench-dev-")
    try:
        root = build_dev_tree(os.path.join(work, "dev3"))
        classes = peer_recipe.classes_of(root)
        arrays = [load_split(root, split, classes, 32) for split, _ in SPLIT_SIZES]
        rows: Dict[str, List[float]] = {"recipe": [], **{n: [] for n in variants}}
        for seed in range(args.seeds):
            r = peer_recipe.recipe_run(root, "train", "test", classes, 32, weights, seed)
            rows["recipe"].append(r["accuracy"])
            print(json.dumps({"variant": "recipe", "seed": seed, "dev_test": r["accuracy"],
                              "seconds": round(r["seconds"])}), flush=True)
            for name, overrides in variants.items():
                t = trainer_run(root, overrides, seed, args.lr, weights, arrays)
                rows[name].append(t["accuracy"])
                print(json.dumps({"variant": name, "seed": seed, "dev_test": t["accuracy"],
                                  "final_validation": t["validation"],
                                  "seconds": round(t["seconds"]),
                                  "phase_seconds": t["phase_seconds"],
                                  "phase2_features_cached": t["phase2_features_cached"]}),
                      flush=True)
        print()
        print(f"development tree, {len(arrays[2][1])} test images (Fashion-MNIST train images), "
              f"lr {args.lr}, {args.seeds} seeds")
        print("| variant | dev-test accuracy per seed | mean | vs recipe (pt, 95 %) |")
        print("|---|---|---:|---:|")
        for name, accs in rows.items():
            deltas = [100 * (a - r) for a, r in zip(accs, rows["recipe"])]
            vs = ("" if name == "recipe" else
                  f"{statistics.fmean(deltas):+.2f} ± {peer_recipe.t_half_width(deltas):.2f}")
            print(f"| {name} {' '.join(variants.get(name, []))} | "
                  f"{' / '.join(f'{a:.4f}' for a in accs)} | {statistics.fmean(accs):.4f} | "
                  f"{vs} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

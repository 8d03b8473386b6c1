"""Benchmark: grid search vs seeded random search on the embedded data (data/fashion_binary).

Images are decoded directly with `modules.preprocessing.decode_and_resize` (32x32, no pipeline run).
For each training seed, the real GridSearchTuner runs the full grid (learning_rate x batch_size,
3 x 3 = 9 trials, 1 epoch each, cv_folds 1: train on the train split, score = eval accuracy on the
eval split). Random search is then the real RandomSearchTuner's oracle with each search seed, its
trials answered from those cached scores: honest, because a trial's score depends only on its
hyperparameters, the training seed and the data, never on the search order (modules/tuning.py
seeds every trial's model and shuffle). Note the pipeline uses one seed for both; here the search
seed is varied independently of the training seed.

Prints the grid's per-combination scores, the grid's best score, trials and wall time side by side
with random search at budgets 1..9 (share of runs within 1 point of the grid's best, mean best,
mean wall time), and the mean number of random trials to come within 1 point (0.01 accuracy) of
the grid's best (goal <= 1/3 of the grid's trials). Wall times depend on machine load.
Last line: `grid_trials=<n> random_trials_to_within_1pt=<m> ratio=<m/n>`.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402

Key = Tuple[float, int]  # (learning_rate, batch_size)
WITHIN = 0.01            # "1 point" of accuracy


def load_split(root: str, split: str, class_names: List[str], image_size: int):
    """float32 [N, S, S, 3] in [0, 255] and int64 [N] labels (class index in sorted names)."""
    import tensorflow as tf

    from modules.preprocessing import decode_and_resize
    images, labels = [], []
    for label, name in enumerate(class_names):
        for path in sorted(glob.glob(os.path.join(root, split, name, "*"))):
            images.append(decode_and_resize(tf.io.read_file(path), image_size).numpy())
            labels.append(label)
    return np.stack(images).astype(np.float32), np.array(labels, np.int64)


def trials_to_within(scores: List[float], target: float) -> int:
    """1-based index of the first trial whose best-so-far reaches `target` (len+1 if never)."""
    best = -1.0
    for n, s in enumerate(scores, 1):
        best = max(best, s)
        if best >= target - 1e-9:
            return n
    return len(scores) + 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--search-seeds", type=int, default=20, help="random-search seeds (>= 5)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", help="also write all figures to this JSON file")
    args = parser.parse_args(argv)
    if args.search_seeds < 5:
        parser.error("--search-seeds must be >= 5")

    from dataclasses import replace

    from modules import tuning
    from modules.configs import RunConfig
    from pipeline.config import load_config
    from pipeline.pipeline import module_config, resolve_weights

    config = load_config(profile="quick", overrides=[
        f"model.image_size={args.image_size}", "tuner.learning_rate=[0.001, 0.01, 0.1]",
        "tuner.batch_size=[16, 32, 64]", f"tuner.epochs={args.epochs}", "tuner.cv_folds=1",
        "tuner.strategy=grid"])  # the seed's 3 x 3 space
    weights_path, weights_source = resolve_weights(config)
    base = RunConfig.from_dict(module_config(config, weights_path, weights_source))
    space = base.tuner.search_space()
    t0 = time.time()
    x, y = load_split(config.data_root, "train", base.class_names, args.image_size)
    xv, yv = load_split(config.data_root, "eval", base.class_names, args.image_size)
    print(f"data: {len(y)} train / {len(yv)} eval images at {args.image_size}px "
          f"(decoded in {time.time() - t0:.1f}s); weights: {weights_source}; "
          f"{args.epochs} epoch(s)/trial, cv_folds 1")
    print(f"space: learning_rate {space['learning_rate']} x batch_size {space['batch_size']}")
    print("wall times depend on machine load")

    # ---- grid: the real GridSearchTuner, once per training seed ----
    cache: Dict[int, Dict[Key, Tuple[float, float]]] = {}
    grid_wall: Dict[int, float] = {}
    work = tempfile.mkdtemp(prefix="bench-tuning-")
    for seed in args.train_seeds:
        cfg = replace(base, seed=seed)
        tuner = tuning.make_tuner(cfg, work, project_name=f"grid{seed}")
        started = time.time()
        with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner's per-trial display
            tuner.search(x=x, y=y, x_val=xv, y_val=yv, config=cfg)
        grid_wall[seed] = time.time() - started
        cache[seed] = {}
        for t in tuner.oracle.trials.values():
            v = t.hyperparameters.values
            cache[seed][(v["learning_rate"], v["batch_size"])] = (
                t.metrics.get_last_value(tuning.OBJECTIVE), t.metrics.get_last_value("seconds"))
        assert len(cache[seed]) == tuning.grid_size(tuning.search_space(space)), cache[seed]
    n_grid = len(next(iter(cache.values())))

    print("\ngrid scores (eval accuracy) per training seed; rows learning_rate, cols batch_size")
    for seed in args.train_seeds:
        print(f"  seed {seed}: " + "  ".join(
            f"lr={lr:g}:[" + " ".join(f"{cache[seed][(lr, bs)][0]:.3f}" for bs in space['batch_size'])
            + "]" for lr in space["learning_rate"]))

    # ---- random: the real RandomSearch oracle per search seed, trials answered from the cache ----
    def cached_run_trial(self, trial, cached):  # replaces the real trial: scores from the grid
        v = trial.hyperparameters.values
        score, seconds = cached[(v["learning_rate"], v["batch_size"])]
        return {tuning.OBJECTIVE: score, "seconds": seconds}

    budgets = list(range(1, n_grid + 1))
    runs = []  # (train seed, search seed, scores in order, seconds in order)
    for seed in args.train_seeds:
        for search_seed in range(1, args.search_seeds + 1):
            cfg = replace(base, seed=seed, tuner=replace(base.tuner, seed=search_seed,
                                                         strategy="random", max_trials=n_grid))
            tuner = tuning.make_tuner(cfg, work, project_name=f"random{seed}_{search_seed}")
            tuner.run_trial = cached_run_trial.__get__(tuner)
            with contextlib.redirect_stdout(io.StringIO()):
                tuner.search(cached=cache[seed])
            trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
            keys = [(t.hyperparameters.values["learning_rate"],
                     t.hyperparameters.values["batch_size"]) for t in trials]
            runs.append((seed, search_seed, [cache[seed][k][0] for k in keys],
                         [cache[seed][k][1] for k in keys]))
    orders = {tuple(r[2]) for r in runs}
    short = sum(len(r[2]) < n_grid for r in runs)  # 0 with CompleteRandomSearchOracle
    needed = [trials_to_within(scores, max(cache[seed][k][0] for k in cache[seed]) - WITHIN)
              for seed, _, scores, _ in runs]
    wall_needed = [sum(secs[:n]) for (_, _, _, secs), n in zip(runs, needed)]

    print(f"\nrandom search: {args.search_seeds} search seeds x {len(args.train_seeds)} training "
          f"seeds = {len(runs)} runs ({len(orders)} distinct score sequences); scores are the "
          f"grid's cached trials (a trial's score does not depend on search order); "
          f"{short} run(s) stopped before {n_grid} trials")
    print(f"{'budget':>6} {'within_1pt':>10} {'mean_best':>9} {'mean_wall_s':>11}")
    for b in budgets:
        within = np.mean([n <= b for n in needed])
        best = np.mean([max(scores[:b]) for _, _, scores, _ in runs])
        wall = np.mean([sum(secs[:b]) for _, _, _, secs in runs])
        print(f"{b:>6} {within:>10.2f} {best:>9.4f} {wall:>11.1f}")

    grid_best = np.mean([max(s for s, _ in cache[seed].values()) for seed in args.train_seeds])
    m = float(np.mean(needed))
    print(f"\n{'':24} {'grid':>10} {'random':>10}")
    print(f"{'best score (mean/seeds)':24} {grid_best:>10.4f} {'within 1pt':>10}")
    print(f"{'trials':24} {n_grid:>10} {m:>10.2f}")
    print(f"{'wall s (mean/seeds)':24} {np.mean(list(grid_wall.values())):>10.1f} "
          f"{np.mean(wall_needed):>10.1f}")
    print(f"goal: random trials <= 1/3 of the grid's ({n_grid / 3:.1f}); measured ratio "
          f"{m / n_grid:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cache": {str(s): {f"{k[0]}/{k[1]}": v for k, v in c.items()}
                                 for s, c in cache.items()},
                       "needed": needed, "grid_wall": grid_wall}, f, indent=2)
    print(f"grid_trials={n_grid} random_trials_to_within_1pt={m:.2f} ratio={m / n_grid:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

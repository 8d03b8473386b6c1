"""Benchmark: the compute each Tuner strategy spends to come within 1 point of the exhaustive
grid's best, on the embedded data (data/fashion_binary), counted in training epochs and measured
wall seconds.

Images are decoded directly with `modules.preprocessing.decode_and_resize` (no pipeline run);
trials train on the train split and are scored on the validation split (`eval/`), the Tuner's
objective; the test split is never read. Per space (`seed`: the seed's learning_rate x
batch_size, 3 x 3; `large`: plus head_units, dropout and unfreeze depth, 2 values each: 72) and
per training seed:

- grid: the real grid tuner, live. Its best score sets the target (best - 1 point); its own-order
  epochs and measured wall time until the best-so-far reaches the target stand beside its
  full-grid epochs and wall time.
- order check: after the grid, its last and first combinations trained again, in that order
  (so each runs after a different trial than in the grid); their scores must equal the grid's.
  Only then are cached scores used.
- random: the exact expected epochs to the target for a uniformly random order of the cached grid
  (each of the b combinations below the target comes before all k at it with probability
  1/(k+1)), and the real seeded random oracle over the search seeds, answered from the cache.
- bayesian: the real Bayesian oracle over the search seeds, answered from the cache (its choices
  depend only on the scores, which the order check showed do not depend on order).
- hyperband: the real Hyperband tuner, live (its trials train other epoch counts and resume from
  checkpoints, so no grid cache can answer them), stopped as soon as its best reaches the target.

Cache-answered runs have no wall time of their own; `--live` runs random and bayesian live too
(stopped at the target), measuring theirs. A grid trial trains `--epochs` epochs (twice that with
phase 2, unfreeze depth > 0); Hyperband's longest trial equals it (`max_epochs`), with
`--factor`. Prints every strategy's epochs and wall time to the target (mean ± std over search
seeds x training seeds) per space. Last line, for the last space:
`grid_epochs= random_epochs= bayesian_epochs= hyperband_epochs= best_ratio= best=`: each
strategy's mean epochs to within 1 point (the grid's in its own order), and the best strategy's
divided by the epochs of the full grid.

Sized (2026-12-02) for this 2-core machine shared with two other workers (load average 3-8):
a trial costs ~7-11 s whatever its data (model build, tracing and evaluation dominate), so the
defaults are 32 train images per class (`--max-images`; all 150 validation images per class are
scored, `--max-val-images 0`, so 1 point is 3 images), 32x32, `--epochs 3`, `--factor 3`, 3
training seeds, 10 random / bayesian search seeds (cache-answered) and 3 live Hyperband searches
per training seed (`--hyperband-seeds`). Measured: the seed space, 3 training seeds, 12 min; the
large space, 17 min per training seed (72 grid trials, 324 epochs, ~800 s of them).

The published figures were measured when TensorFlow kept ~90 MB per trial (more with phase 2) in
the process that trained it, one 72-trial training seed peaking at ~13 GB, so the large space ran
one process per training seed, merged by `--merge`. Trials now release their graphs
(`modules.tuning.released_trial_graphs`; benchmarks/tuner_memory.py measures it), so one process
should do; the per-seed split still works and spreads the run over several sittings:

    nice -n 5 .venv/bin/python benchmarks/tuning.py --spaces seed --json seed.json     # 12 min
    for s in 42 43 44; do nice -n 5 .venv/bin/python benchmarks/tuning.py --spaces large \
        --train-seeds $s --allow-few-seeds --json large-$s.json; done                  # 3 x 17 min
    .venv/bin/python benchmarks/tuning.py --merge seed.json large-42.json large-43.json \
        large-44.json

Tiny run that proves the mechanics: `--spaces seed --train-seeds 42 --search-seeds 2
--max-images 16 --max-val-images 16 --epochs 2 --factor 2 --allow-few-seeds` (about a minute).
"""
from __future__ import annotations

import os
import sys

# this checkout's modules/ and pipeline/ (`python benchmarks/tuning.py` puts only benchmarks/ on
# the path; an installed copy of the project would be imported instead)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import glob  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any, Dict, List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402

WITHIN = 0.01            # "1 point" of accuracy
SPACES = {
    "seed": {"learning_rate": [0.001, 0.01, 0.1], "batch_size": [16, 32, 64]},
    "large": {"learning_rate": [0.001, 0.01, 0.1], "batch_size": [16, 32, 64],
              "head_units": [64, 256], "dropout": [0.2, 0.5], "unfreeze_blocks": [0, 1]},
}
Key = Tuple  # a combination: its values in the space's order


def load_split(root: str, split: str, class_names: List[str], image_size: int,
               max_images: Optional[int] = None):
    """float32 [N, S, S, 3] in [0, 255] and int64 [N] labels (class index in sorted names); the
    first `max_images` files (sorted) per class when given."""
    import tensorflow as tf

    from modules.preprocessing import decode_and_resize
    images, labels = [], []
    for label, name in enumerate(class_names):
        paths = sorted(glob.glob(os.path.join(root, split, name, "*")))[:max_images]
        for path in paths:
            images.append(decode_and_resize(tf.io.read_file(path), image_size).numpy())
            labels.append(label)
    return np.stack(images).astype(np.float32), np.array(labels, np.int64)


def to_target(trials: List[Dict[str, float]], target: float) -> Dict[str, Optional[float]]:
    """Epochs, wall seconds and trials spent until the best-so-far score reaches `target`
    (None if it never does). `trials`: dicts with score, epochs, seconds, in run order."""
    epochs = seconds = 0.0
    best = -1.0
    for n, t in enumerate(trials, 1):
        epochs += t["epochs"]
        seconds += t.get("seconds") or 0.0
        best = max(best, t["score"])
        if best >= target - 1e-9:
            return {"epochs": epochs, "seconds": seconds, "trials": n}
    return {"epochs": None, "seconds": None, "trials": None}


def expected_random_epochs(cache: Dict[Key, Dict[str, float]], target: float) -> float:
    """Exact expected epochs to the target for a uniformly random order without repetition:
    every combination below the target precedes all k at it with probability 1/(k+1); the first
    combination at the target is any of the k alike."""
    good = [c["epochs"] for c in cache.values() if c["score"] >= target - 1e-9]
    bad = [c["epochs"] for c in cache.values() if c["score"] < target - 1e-9]
    return sum(bad) / (len(good) + 1) + float(np.mean(good))


def key_of(values: Dict[str, Any], names: List[str]) -> Key:
    return tuple(values[n] for n in names)


def trial_list(tuner, objective: str) -> List[Dict[str, float]]:
    """The finished trials of a search in run order: score, epochs, seconds."""
    out = []
    for t in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        if t.status != "COMPLETED":
            continue
        get = t.metrics.get_last_value
        out.append({"score": get(objective), "epochs": get("epochs"), "seconds": get("seconds"),
                    "values": dict(t.hyperparameters.values)})
    return out


def stop_at(tuner, target: float, objective: str) -> None:
    """Ends the search after the first trial whose score reaches `target` (the benchmark's
    stopping rule; keras-tuner stops creating trials once max_trials are reached)."""
    original = tuner.on_trial_end

    def on_trial_end(trial):
        original(trial)
        score = trial.metrics.get_last_value(objective) if trial.metrics.exists(objective) \
            else None
        if score is not None and score >= target - 1e-9:
            tuner.oracle.max_trials = len(tuner.oracle.trials)
    tuner.on_trial_end = on_trial_end


def search(tuner, **kwargs) -> float:
    """tuner.search, quiet; returns the measured wall seconds."""
    started = time.time()
    with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner's per-trial display
        tuner.search(**kwargs)
    return time.time() - started


def stats(values: List[Optional[float]]) -> str:
    done = [v for v in values if v is not None]
    if not done:
        return "never"
    missed = len(values) - len(done)
    return f"{np.mean(done):.1f} ± {np.std(done):.1f}" + (f" ({missed} missed)" if missed else "")


def mean_or_none(values: List[Optional[float]]) -> Optional[float]:
    done = [v for v in values if v is not None]
    return float(np.mean(done)) if done and len(done) == len(values) else None


def run_space(name: str, space: Dict[str, list], base, data, args, work: str) -> Dict[str, Any]:
    from modules import tuning
    names = list(space)
    x, y, xv, yv = data
    fit = {"x": x, "y": y, "x_val": xv, "y_val": yv}
    n_grid = int(np.prod([len(v) for v in space.values()]))
    tuner_cfg = replace(base.tuner, epochs=args.epochs, cv_folds=1, **{
        k: space.get(k) for k in ("learning_rate", "batch_size", "head_units", "dropout",
                                  "unfreeze_blocks")})
    phase2 = bool(base.weights_path) and any(space.get("unfreeze_blocks") or [])
    hb_max = 2 * args.epochs if phase2 else args.epochs
    print(f"\n==== space {name}: {' x '.join(f'{k} {v}' for k, v in space.items())} = {n_grid} "
          f"combinations; {args.epochs} epoch(s)/trial"
          + (" (+ as many in phase 2 when unfreeze depth > 0)" if phase2 else "")
          + f"; hyperband max_epochs {hb_max}, factor {args.factor}")
    results: Dict[str, Dict[str, List[Optional[float]]]] = {
        s: {"epochs": [], "seconds": [], "trials": []} for s in
        ("grid", "random", "bayesian", "hyperband")}
    full_grid_epochs, full_grid_wall, exact_random = [], [], []
    for seed in args.train_seeds:
        # ---- grid, live ----
        cfg = replace(base, seed=seed, tuner=replace(tuner_cfg, strategy="grid"))
        tuner = tuning.make_tuner(cfg, work, project_name=f"{name}-grid{seed}")
        wall = search(tuner, **fit, config=cfg)
        grid = trial_list(tuner, tuning.OBJECTIVE)
        assert len(grid) == n_grid, (len(grid), n_grid)
        cache = {key_of(t["values"], names): t for t in grid}
        best = max(t["score"] for t in grid)
        target = best - WITHIN
        full_grid_epochs.append(sum(t["epochs"] for t in grid))
        full_grid_wall.append(wall)
        own = to_target(grid, target)
        for k in results["grid"]:
            results["grid"][k].append(own[k])
        exact_random.append(expected_random_epochs(cache, target))
        print(f"seed {seed}: grid best {best:.4f} ({sum(t['score'] >= target - 1e-9 for t in grid)}"
              f" of {n_grid} within 1 pt), full grid {full_grid_epochs[-1]:.0f} epochs in "
              f"{wall:.1f}s; own order: {own['trials']} trials, {own['epochs']:.0f} epochs, "
              f"{own['seconds']:.1f}s")

        # ---- order check: first and last combination again, in reverse order ----
        first, last = grid[0], grid[-1]
        again = {}
        for t in (last, first):
            folds = tuning.make_folds(x, y, xv, yv, 1, tuning.tuner_seed(cfg),
                                      cfg.trainer.augmentation.mirrored_copies)
            again[key_of(t["values"], names)] = tuning.cross_validate(
                dict(t["values"]), cfg, folds, cfg.seed)[tuning.OBJECTIVE]
        same = all(abs(again[key_of(t["values"], names)] - t["score"]) < 1e-9
                   for t in (first, last))
        print(f"  order check (last then first, again): "
              f"{[round(v, 4) for v in again.values()]} vs grid "
              f"{[round(last['score'], 4), round(first['score'], 4)]}: "
              f"{'same, cached scores used' if same else 'DIFFERENT: cached scores not used'}")

        # ---- random and bayesian: the real oracles, cache-answered (or live with --live) ----
        def cached_run_trial(self, trial, *_, cache=cache, **__):
            hit = cache[key_of(trial.hyperparameters.values, names)]
            return {tuning.OBJECTIVE: hit["score"], "epochs": hit["epochs"], "seconds": 0.0}

        for strategy in ("random", "bayesian"):
            for search_seed in range(1, args.search_seeds + 1):
                options = {}
                if strategy == "bayesian":
                    options = {"num_initial_points": args.initial_points}
                scfg = replace(cfg, tuner=replace(cfg.tuner, strategy=strategy, seed=search_seed,
                                                  max_trials=n_grid, **options))
                tuner = tuning.make_tuner(scfg, work,
                                          project_name=f"{name}-{strategy}{seed}-{search_seed}")
                stop_at(tuner, target, tuning.OBJECTIVE)
                if args.live:
                    search(tuner, **fit, config=scfg)
                    got = to_target(trial_list(tuner, tuning.OBJECTIVE), target)
                elif same:
                    tuner.run_trial = cached_run_trial.__get__(tuner)
                    search(tuner)
                    got = to_target(trial_list(tuner, tuning.OBJECTIVE), target)
                    got["seconds"] = None  # answered from the cache: no wall time of its own
                else:
                    got = {"epochs": None, "seconds": None, "trials": None}
                for k in results[strategy]:
                    results[strategy][k].append(got[k])

        # ---- hyperband, live, stopped at the target ----
        for search_seed in range(1, args.hyperband_seeds + 1):
            hcfg = replace(cfg, tuner=replace(cfg.tuner, strategy="hyperband", seed=search_seed,
                                              max_epochs=hb_max, factor=args.factor,
                                              hyperband_iterations=args.hyperband_iterations))
            tuner = tuning.make_tuner(hcfg, work, project_name=f"{name}-hb{seed}-{search_seed}")
            stop_at(tuner, target, tuning.OBJECTIVE)
            wall = search(tuner, **fit, config=hcfg)
            trials = trial_list(tuner, tuning.OBJECTIVE)
            got = to_target(trials, target)
            if got["epochs"] is not None:
                got["seconds"] = wall  # measured around the whole (stopped) search
            for k in results["hyperband"]:
                results["hyperband"][k].append(got[k])

    out = {"space": name, "results": results, "n_grid": n_grid,
           "train_seeds": list(args.train_seeds), "full_grid_epochs": full_grid_epochs,
           "full_grid_wall": full_grid_wall, "exact_random": exact_random,
           "search_seeds": args.search_seeds, "hyperband_seeds": args.hyperband_seeds,
           "live": bool(args.live)}
    return summarize(out)


def summarize(out: Dict[str, Any]) -> Dict[str, Any]:
    """Prints a space's table from its per-run figures (one invocation's, or several merged by
    `--merge`); adds the means (None when a run missed) and the full grid's mean epochs."""
    results, n_grid = out["results"], out["n_grid"]
    grid_full = float(np.mean(out["full_grid_epochs"]))
    print(f"\n{out['space']}: to within 1 pt of the grid's best, mean ± std over "
          f"{len(out['train_seeds'])} training seeds ({', '.join(map(str, out['train_seeds']))})"
          f" x search seeds (random/bayesian {out['search_seeds']}, hyperband "
          f"{out['hyperband_seeds']}; grid: its own order)")
    print(f"{'strategy':10} {'epochs':>18} {'wall_s':>18} {'trials':>14} {'epochs/full grid':>16}")
    for s, r in results.items():
        e = mean_or_none(r["epochs"])
        wall = stats(r["seconds"]) if any(v is not None for v in r["seconds"]) else \
            ("cached" if s in ("random", "bayesian") and not out.get("live") else "never")
        print(f"{s:10} {stats(r['epochs']):>18} {wall:>18} {stats(r['trials']):>14} "
              f"{(e / grid_full if e is not None else float('nan')):>16.3f}")
    print(f"{'full grid':10} {grid_full:>18.1f} {np.mean(out['full_grid_wall']):>18.1f} "
          f"{n_grid:>14}")
    print(f"random, exact expectation on the cached grid: {np.mean(out['exact_random']):.2f} "
          f"epochs (per training seed: {', '.join(f'{v:.2f}' for v in out['exact_random'])})")
    out["grid_full_epochs"] = grid_full
    out["means"] = {s: mean_or_none(r["epochs"]) for s, r in results.items()}
    return out


def merge(paths: List[str]) -> List[Dict[str, Any]]:
    """Several `--json` files (e.g. one per training seed, each run in its own process) merged
    per space, in order of first appearance: their per-run figures concatenated."""
    merged: Dict[str, Dict[str, Any]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for out in json.load(f):
                m = merged.setdefault(out["space"], {
                    "space": out["space"], "n_grid": out["n_grid"], "train_seeds": [],
                    "full_grid_epochs": [], "full_grid_wall": [], "exact_random": [],
                    "search_seeds": out["search_seeds"], "hyperband_seeds": out["hyperband_seeds"],
                    "live": out.get("live", False),
                    "results": {s: {k: [] for k in r} for s, r in out["results"].items()}})
                for key in ("train_seeds", "full_grid_epochs", "full_grid_wall", "exact_random"):
                    m[key] += out[key]
                for s, r in out["results"].items():
                    for k, values in r.items():
                        m["results"][s][k] += values
    return [summarize(m) for m in merged.values()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--search-seeds", type=int, default=10,
                        help="random and bayesian search seeds per training seed (>= 10)")
    parser.add_argument("--hyperband-seeds", type=int, default=3,
                        help="live hyperband searches per training seed (sized: each is a live "
                             "search; 0: as many as --search-seeds)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of a grid trial")
    parser.add_argument("--factor", type=int, default=3, help="hyperband factor")
    parser.add_argument("--hyperband-iterations", type=int, default=1)
    parser.add_argument("--initial-points", type=int, default=3, help="bayesian random points")
    parser.add_argument("--max-images", type=int, default=32,
                        help="first N train images per class (sized: see the docstring; 0: all)")
    parser.add_argument("--max-val-images", type=int, default=0,
                        help="first N validation images per class (0: all 150; scoring is "
                             "cheap and 1 point must be finer than one image)")
    parser.add_argument("--live", action="store_true",
                        help="run random and bayesian live too (measured wall time)")
    parser.add_argument("--allow-few-seeds", action="store_true",
                        help="allow < 10 search seeds / < 3 training seeds (tiny runs)")
    parser.add_argument("--json", help="also write all figures to this JSON file")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="no run: merge these --json files (e.g. one process per training "
                             "seed) and print the tables and the last line")
    args = parser.parse_args(argv)
    if args.merge:
        out = merge(args.merge)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(out, f, indent=2, default=float)
        return last_line(out)
    if not args.hyperband_seeds:
        args.hyperband_seeds = args.search_seeds
    if not args.allow_few_seeds and (args.search_seeds < 10 or len(args.train_seeds) < 3):
        parser.error("need >= 10 search seeds and >= 3 training seeds (or --allow-few-seeds)")
    if args.epochs < args.factor:
        parser.error("--epochs (hyperband's max_epochs) must be >= --factor")

    from modules.configs import RunConfig
    from pipeline.config import load_config
    from pipeline.pipeline import module_config, resolve_weights

    config = load_config(profile="quick", overrides=[
        f"model.image_size={args.image_size}", "tuner.cv_folds=1", "tuner.strategy=grid"])
    weights_path, weights_source = resolve_weights(config)
    base = RunConfig.from_dict(module_config(config, weights_path, weights_source))
    t0 = time.time()
    x, y = load_split(config.data_root, "train", base.class_names, args.image_size,
                      args.max_images or None)
    xv, yv = load_split(config.data_root, "eval", base.class_names, args.image_size,
                        args.max_val_images or None)
    print(f"data: {len(y)} train / {len(yv)} validation (eval/) images at {args.image_size}px "
          f"(decoded in {time.time() - t0:.1f}s); weights: {weights_source}; test split unused")
    print("epochs are counted from Keras' History; wall times are measured and load-dependent")
    work = tempfile.mkdtemp(prefix="bench-tuning-")
    started = time.time()
    out = [run_space(name, SPACES[name], base, (x, y, xv, yv), args, work)
           for name in args.spaces]
    print(f"\ntotal wall time {time.time() - started:.0f}s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, default=float)
    return last_line(out)


def last_line(out: List[Dict[str, Any]]) -> int:
    """The last line, for the last space."""
    last = out[-1]
    means = last["means"]
    done = {s: e for s, e in means.items() if e is not None}
    best = min(done, key=done.get) if done else "none"
    ratio = done[best] / last["grid_full_epochs"] if done else float("nan")

    def fmt(v):
        return "nan" if v is None else f"{v:.1f}"
    print(f"grid_epochs={fmt(means['grid'])} random_epochs={fmt(means['random'])} "
          f"bayesian_epochs={fmt(means['bayesian'])} hyperband_epochs={fmt(means['hyperband'])} "
          f"best_ratio={ratio:.3f} best={best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Probe: the Tuner process's resident memory (RSS) after each of N trials in one process.

The real grid tuner (`modules.tuning.make_tuner`, the TrialsTuner's run_trial path) on the
embedded data as benchmarks/tuning.py loads it (32 train images per class, all 300 validation
images, 32x32, ImageNet VGG16 frozen, `--epochs` per trial; `--unfreeze` adds phase 2, unfreeze
depth 1, as the large space of benchmarks/tuning.py does). Prints the RSS after every trial and a
last line `trials= first_mb= last_mb= per_trial_mb=`, per_trial_mb being the mean growth per trial
after the third (the first trials also fill caches that later ones reuse).

`--keep-graphs` runs the trials as before the fix: without `modules.tuning.released_trial_graphs`
(each trial's traced graphs, and through them its model, stay in the process; docs/results.md,
"Memory per trial").

    nice -n 5 .venv/bin/python benchmarks/tuner_memory.py --trials 12
    nice -n 5 .venv/bin/python benchmarks/tuner_memory.py --trials 12 --keep-graphs
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import tempfile  # noqa: E402
from typing import List  # noqa: E402

# a space larger than any --trials used here; the grid runs it in order
LEARNING_RATES = [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]
BATCH_SIZES = [16, 32, 64, 128]


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc)."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial (head)")
    parser.add_argument("--unfreeze", action="store_true",
                        help="tune unfreeze depth 1 only: every trial also trains phase 2")
    parser.add_argument("--keep-graphs", action="store_true",
                        help="as before the fix: trials' graphs are not released")
    args = parser.parse_args(argv)
    if args.trials < 4 or args.trials > len(LEARNING_RATES) * len(BATCH_SIZES):
        parser.error(f"--trials: 4..{len(LEARNING_RATES) * len(BATCH_SIZES)}")

    from modules import tuning
    from modules.configs import RunConfig
    from pipeline.config import load_config
    from pipeline.pipeline import module_config, resolve_weights
    from tuning import load_split  # benchmarks/tuning.py

    if args.keep_graphs:
        tuning.released_trial_graphs = contextlib.nullcontext
    overrides = ["model.image_size=32", "tuner.strategy=grid", "tuner.cv_folds=1",
                 f"tuner.epochs={args.epochs}",
                 f"tuner.learning_rate=[{','.join(map(str, LEARNING_RATES))}]",
                 f"tuner.batch_size=[{','.join(map(str, BATCH_SIZES))}]"]
    if args.unfreeze:
        overrides.append("tuner.unfreeze_blocks=[1]")
    config = load_config(profile="quick", overrides=overrides)
    weights_path, weights_source = resolve_weights(config)
    base = RunConfig.from_dict(module_config(config, weights_path, weights_source))
    x, y = load_split(config.data_root, "train", base.class_names, 32, 32)
    xv, yv = load_split(config.data_root, "eval", base.class_names, 32)
    print(f"{len(y)} train / {len(yv)} validation images, 32px, weights: {weights_source}; "
          f"graphs {'kept (before the fix)' if args.keep_graphs else 'released'}")
    print(f"before the search: {rss_mb():.0f} MB")
    tuner = tuning.make_tuner(base, tempfile.mkdtemp(prefix="tuner-memory-"))
    tuner.oracle.max_trials = args.trials
    series: List[float] = []
    on_trial_end = tuner.on_trial_end

    def record(trial):
        on_trial_end(trial)
        series.append(rss_mb())
        print(f"after trial {len(series)}: {series[-1]:.0f} MB", file=sys.__stdout__,
              flush=True)
    tuner.on_trial_end = record
    with contextlib.redirect_stdout(sys.stderr):  # keras-tuner's per-trial tables
        tuner.search(x=x, y=y, x_val=xv, y_val=yv, config=base)
    per_trial = (series[-1] - series[2]) / (len(series) - 3)
    print(f"trials={len(series)} first_mb={series[0]:.0f} last_mb={series[-1]:.0f} "
          f"per_trial_mb={per_trial:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

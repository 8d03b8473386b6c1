"""Benchmark: the fixed cost of a pipeline run (everything but the Tuner and the Trainer), per
checkout, so a change to it can be compared with the code before it on the same machine.

Runs `python -m pipeline run --profile quick` (embedded pair, seed 1) from each `--checkout
LABEL=PATH` (a git worktree: its code is imported first via PYTHONPATH, in this interpreter's
environment), `--reps` times each, interleaved (A B A B ...: machine load hits both sides), each
on a fresh output root. Training is cut short (`SHORT_TRAINING`; its length does not change the
other components' work) and the gates are opened so that every run pushes. The plain recipe does
none of this fixed work, so it is what the whole run's time ratio (benchmarks/peer_recipe.py)
pays on top of training.

Per checkout it prints the mean ± sd over reps of: the process's wall time; start-up (process
start to the arrival of the first component's console line, imports included); each component's
own duration from the console lines; and the fixed cost = wall - Tuner - Trainer. Last line:
`fixed_s_<label>=<mean> ...` per checkout, then `saved_s=<first - last>` for two checkouts.

    git worktree add /tmp/before <rev>
    python benchmarks/run_overhead.py --checkout before=/tmp/before --checkout after=. --reps 3
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

SHORT_TRAINING = ["tuner.max_trials=1", "tuner.epochs=1", "trainer.epochs=1",
                  "trainer.fine_tune.unfreeze_blocks=0", "trainer.pruning.fine_tune_epochs=1",
                  "evaluator.accuracy_lower_bound=0", "evaluator.auc_lower_bound=0",
                  "evaluator.min_class_recall=0"]
COMPONENTS = ("ImageExampleGen", "StatisticsGen", "Transform", "Tuner", "Trainer", "Evaluator",
              "ExportPusher")
LINE = re.compile(r"^\[\s*([\d.]+)s\] (\w+) \.\.\.( done in ([\d.]+) s)?")


def one_run(path: str, extra: List[str]) -> Dict[str, float]:
    """{'wall', 'startup', <component>: seconds} of one run from checkout `path`."""
    out = tempfile.mkdtemp(prefix="overhead-")
    args = ["--profile", "quick", "--set", f"output.root={out}", "--set", "seed=1"]
    for item in SHORT_TRAINING + extra:
        args += ["--set", item]
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    try:
        code, stdout, stderr, wall, startup = timed_run(
            [sys.executable, "-m", "pipeline", "run", *args], os.path.abspath(path), env)
        if code != 0 or "ExportPusher ... done" not in stdout:
            sys.stderr.write(stdout[-3000:] + stderr[-3000:])
            raise SystemExit(f"run from {path} failed or pushed nothing (exit {code})")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return parse_console(stdout, wall, startup)


def timed_run(command: List[str], cwd: str, env: Dict[str, str]
              ) -> Tuple[int, str, str, float, Optional[float]]:
    """Runs `command`, reading its stdout as it comes (PYTHONUNBUFFERED=1): (exit code, stdout,
    stderr, wall s, s from process start to the arrival of the first component line, or None).
    The console's own clock starts after the CLI's imports, so its timestamps miss those."""
    started = time.perf_counter()
    first_line: Optional[float] = None
    lines: List[str] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(command, cwd=cwd, env=dict(env, PYTHONUNBUFFERED="1"),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        for line in proc.stdout:
            if first_line is None and LINE.match(line):
                first_line = time.perf_counter() - started
            lines.append(line)
        code = proc.wait()
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    return code, "".join(lines), stderr, wall, first_line


def parse_console(stdout: str, wall: float, startup: Optional[float]) -> Dict[str, float]:
    """The run's console lines (`[  6.2s] Transform ... done in 8.5 s`) -> {'wall', 'startup'
    (`startup`: process start to the first component, as `timed_run` measured it), <component>:
    its duration, 'fixed': wall - Tuner - Trainer}; all in seconds."""
    result = {"wall": wall}
    if startup is not None:
        result["startup"] = startup
    for line in stdout.splitlines():
        m = LINE.match(line)
        if m and m.group(4) and m.group(2) in COMPONENTS:
            result[m.group(2)] = float(m.group(4))
    missing = [c for c in ("Tuner", "Trainer") if c not in result]
    if missing:
        raise ValueError(f"no 'done' line for {missing} in the run's console output")
    result["fixed"] = wall - result["Tuner"] - result["Trainer"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", required=True, metavar="LABEL=PATH")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], dest="extra",
                        help="more config overrides for every run")
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    for label, path in checkouts.items():
        if not os.path.isfile(os.path.join(path, "pipeline", "__main__.py")):
            raise SystemExit(f"--checkout {label}={path}: no pipeline/__main__.py there")
    runs: Dict[str, List[Dict[str, float]]] = {label: [] for label in checkouts}
    for rep in range(args.reps):
        for label, path in checkouts.items():
            r = one_run(path, args.extra)
            runs[label].append(r)
            print(f"[{time.strftime('%H:%M:%S')}] rep {rep} {label}: " +
                  " ".join(f"{k}={v:.1f}" for k, v in r.items()), flush=True)
    keys = ["wall", "startup", *COMPONENTS, "fixed"]
    print()
    print("| checkout | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    means = {}
    for label, rs in runs.items():
        cells = []
        for k in keys:
            values = [r.get(k, 0.0) for r in rs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {sd:.1f}")
        means[label] = statistics.mean(r["fixed"] for r in rs)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"(mean ± sd over {args.reps} interleaved runs each; load average at the end: "
          f"{os.getloadavg()[0]:.2f})")
    last = " ".join(f"fixed_s_{label}={m:.1f}" for label, m in means.items())
    if len(means) == 2:
        first, second = means.values()
        last += f" saved_s={first - second:.1f}"
    print(last)


if __name__ == "__main__":
    main()

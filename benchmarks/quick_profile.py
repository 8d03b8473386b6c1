"""Benchmark: the quick profile end to end, cold and then an unchanged (cached) re-run.

Runs `python -m pipeline run --profile quick` twice in child processes on a fresh output root and
prints wall time (s), peak RSS (GB) of each, and the cached re-run's time as a fraction of the cold
run (goal <= 10 %). Last line: `cold_s=<s> peak_rss_gb=<gb> cached_s=<s> cached_ratio=<r>`.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def run_child(args) -> tuple[float, float, int]:
    """(wall seconds, peak RSS GB of this child, exit code) of one pipeline run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
    else:
        print("\n".join(proc.stdout.splitlines()[-12:]))
    # ru_maxrss of children is the max over all waited-for children so far.
    return wall, max(peak_kb, before) / 1e6, proc.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-root", help="default: a fresh temp dir (removed afterwards)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    root = args.output_root or tempfile.mkdtemp(prefix="bench-quick-")
    run_args = ["--profile", "quick", "--set", f"output.root={root}"]
    for o in args.overrides:
        run_args += ["--set", o]
    try:
        cold, rss, rc = run_child(run_args)
        if rc != 0:
            return rc
        cached, _, rc = run_child(run_args)
        if rc != 0:
            return rc
    finally:
        if not args.output_root:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print("| run | wall time (s) | peak RSS (GB) |")
    print("|---|---:|---:|")
    print(f"| quick profile, cold | {cold:.1f} | {rss:.2f} |")
    print(f"| unchanged re-run (cached) | {cached:.1f} | - |")
    print(f"cold_s={cold:.1f} peak_rss_gb={rss:.2f} cached_s={cached:.1f} "
          f"cached_ratio={cached / cold:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

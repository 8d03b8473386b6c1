"""Benchmark: the quick profile end to end, cold and then an unchanged (cached) re-run.

Runs `python -m pipeline run --profile quick` twice in child processes on a fresh output root and
prints wall time (s), peak RSS (GB) of each, and the cached re-run's time as a fraction of the cold
run (goal <= 10 %); then the pushed version's artifacts from its report.json: size, held-out
accuracy, class agreement with the SavedModel in LiteRT, and single-image latency (median, p10-p90)
at 1 thread and the machine's threads (.tflite in standalone LiteRT, SavedModel in TensorFlow).
Last line: `cold_s=<s> peak_rss_gb=<gb> cached_s=<s> cached_ratio=<r>`.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
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


def artifact_table(root: str) -> None:
    """The newest pushed version's artifacts, from its report.json."""
    versions = sorted(glob.glob(os.path.join(root, "serving", "[0-9]*")))
    if not versions:
        print("(nothing pushed)")
        return
    with open(os.path.join(versions[-1], "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    held = report["held_out"]
    sm = report["saved_model"]
    threads = sorted(sm["latency"], key=int)

    def lat(info, t):
        x = info.get("latency", {}).get(t)
        return f"{x['median_ms']:.2f} ({x['p10_ms']:.2f}-{x['p90_ms']:.2f})" if x else "-"

    print()
    print(f"held-out: {held['examples']} examples of split '{held['split']}' "
          f"({', '.join(f'{k} {v}' for k, v in held['per_class'].items())}); "
          f"{report['latency_method']}")
    print()
    print("| artifact | MB | gzip MB | accuracy | "
          + " | ".join(f"latency ms, {t} thread(s), median (p10-p90)" for t in threads)
          + " | agreement with SavedModel (LiteRT): parity gate's split / held-out |")
    print("|---|---:|---:|---:|" + "---:|" * len(threads) + "---:|")
    print(f"| SavedModel (TensorFlow) | {sm['bytes'] / 1e6:.2f} | {sm['gzip_bytes'] / 1e6:.2f} | "
          f"{sm['accuracy']:.4f} | " + " | ".join(lat(sm, t) for t in threads) + " | - |")
    for name, info in report["tflite"].items():
        print(f"| {name} TFLite (LiteRT) | {info['bytes'] / 1e6:.2f} | "
              f"{info['gzip_bytes'] / 1e6:.2f} | {info['accuracy']:.4f} | "
              + " | ".join(lat(info, t) for t in threads)
              + f" | {info['agreement']:.1%} on {info.get('parity_split', held['split'])} "
              f"(gate {info['min_agreement']:.0%}) / "
              f"{info.get('held_out_agreement', info['agreement']):.1%} on {held['split']} |")
    for name, info in report.get("rejected", {}).items():
        print(f"| {name} TFLite: REJECTED | | | | " + " | " * (len(threads) - 1)
              + f" {info['reason'][:120]} |")
    loads = [info["litert"]["loadavg"][0] for info in report["tflite"].values()]
    if loads:
        print(f"\n1-minute load average while LiteRT measured: {min(loads):.2f}-{max(loads):.2f}")


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
        artifact_table(root)
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

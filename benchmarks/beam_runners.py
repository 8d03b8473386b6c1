"""Benchmark: the Beam components in-memory (FnApiRunner) vs on Beam's local portable stack.

Runs ImageExampleGen -> StatisticsGen -> SchemaGen -> Transform (the pipeline's components up to
Transform, from `create_components`; the validation nodes Transform waits for included) twice on
the embedded data (data/fashion_binary, or --per-class N images per class and split), each in a
fresh child process with its own output root:
  local     beam.runner=local    (in-process FnApiRunner, the default)
  portable  beam.runner=portable (job service + EXTERNAL worker pool from `pipeline.beam_cluster`)
Each child runs them as `python -m pipeline run` does (TFX's per-component sdist skipped for the
in-process runner only: pipeline/beam_dependencies.py) and times only `LocalDagRunner().run(...)`
(wall seconds; imports excluded). The stack's start-up (health check + smoke job) is timed
separately. Both runs happen in this one invocation, one after the other, so machine load affects
both sides; wall times depend on load.
Last line: `local_s=<s> portable_s=<s> ratio=<portable/local> stack_startup_s=<s> examples=<n>`.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEAM_NODES = ("ImageExampleGen", "StatisticsGen", "SchemaGen", "Transform")


def child(overrides: List[str]) -> None:
    """Runs the Beam components once; prints one JSON line {"seconds": s, "runner": flag}."""
    sys.path.insert(0, REPO_ROOT)
    from absl import logging
    from tfx import v1 as tfx

    from pipeline.beam_dependencies import skip_tfx_package_for_in_process_beam
    from pipeline.config import load_config
    from pipeline.pipeline import create_components

    logging.set_verbosity(logging.WARNING)
    skip_tfx_package_for_in_process_beam()
    config = load_config(overrides=overrides)
    # Everything up to Transform, in topological order (the validation gate Transform waits
    # for included); the Trainer and what follows are not Beam components.
    everything = create_components(config, None, "none")
    ids = [c.id for c in everything]
    components = everything[:ids.index("Transform") + 1]
    assert set(BEAM_NODES) <= {c.id for c in components}, ids
    os.makedirs(config.output_root, exist_ok=True)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="beam-bench", pipeline_root=config.pipeline_root, components=components,
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path),
        beam_pipeline_args=config.beam_pipeline_args)
    started = time.perf_counter()
    tfx.orchestration.LocalDagRunner().run(pipeline)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 1), "runner": config.beam_pipeline_args[0],
                      "nodes": [c.id for c in components]}))


def run_child(overrides: List[str], label: str) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--child"] + [
        a for o in overrides for a in ("--set", o)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{label} run failed (exit {proc.returncode})")
    return float(json.loads(lines[-1])["seconds"])


def subsample(src: str, dest: str, per_class: int) -> str:
    for split in ("train", "eval"):
        for cls_dir in sorted(glob.glob(os.path.join(src, split, "*"))):
            out = os.path.join(dest, split, os.path.basename(cls_dir))
            os.makedirs(out)
            for f in sorted(glob.glob(os.path.join(cls_dir, "*")))[:per_class]:
                shutil.copy(f, out)
    return dest


def benchmark_data(work: str, per_class: int) -> Tuple[str, int]:
    """(data root, number of images): the embedded data, or `per_class` images per class/split."""
    data = os.path.join(REPO_ROOT, "data", "fashion_binary")
    if per_class:
        data = subsample(data, os.path.join(work, "data"), per_class)
    return data, len(glob.glob(os.path.join(data, "*", "*", "*")))


def print_ratio_table(mode_header: str, baseline: Tuple[str, float], other: Tuple[str, float],
                      ratio_header: str) -> None:
    """Markdown table of two wall times (s), the second also as a multiple of the first."""
    print()
    print(f"| {mode_header} | wall s | vs {ratio_header} |")
    print("|---|---|---|")
    print(f"| {baseline[0]} | {baseline[1]:.1f} | 1.00x |")
    print(f"| {other[0]} | {other[1]:.1f} | {other[1] / baseline[1]:.2f}x |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=0,
                        help="images per class and split (0: all of data/fashion_binary)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    if args.child:
        child(args.overrides)
        return 0

    sys.path.insert(0, REPO_ROOT)
    from pipeline.beam_cluster import beam_cluster

    work = tempfile.mkdtemp(prefix="bench-beam-")
    try:
        data, n = benchmark_data(work, args.per_class)
        common = [f"data.root={data}", "model.image_size=32"] + args.overrides
        print(f"Beam components {', '.join(BEAM_NODES)} on {n} images ({data}); wall times "
              f"depend on machine load (both runs in this invocation, one after the other).",
              flush=True)
        local_s = run_child(common + [f"output.root={work}/local"], "local")
        print(f"local (in-process FnApiRunner): {local_s:.1f} s", flush=True)
        t0 = time.perf_counter()
        with beam_cluster(state_dir=os.path.join(work, "cluster")) as cluster:
            startup_s = time.perf_counter() - t0
            print(f"portable stack up (health check + smoke job): {startup_s:.1f} s", flush=True)
            portable_s = run_child(common + cluster.overrides() + [f"output.root={work}/portable"],
                                   "portable")
        print(f"portable (job service + EXTERNAL worker pool): {portable_s:.1f} s")
        print_ratio_table("runner", ("local (FnApiRunner, in-process)", local_s),
                          ("portable (PortableRunner, worker pool)", portable_s), "local")
        print(f"local_s={local_s:.1f} portable_s={portable_s:.1f} "
              f"ratio={portable_s / local_s:.2f} stack_startup_s={startup_s:.1f} examples={n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

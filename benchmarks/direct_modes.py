"""Benchmark: Beam's local runner in-process (the default) vs multi-processing, same components.

Runs ImageExampleGen -> StatisticsGen -> SchemaGen -> Transform on the embedded data (or
--per-class N images per class and split) with `beam.runner: local` twice, each in a fresh child
process (the child of benchmarks/beam_runners.py, which times only `LocalDagRunner().run`):
  in_process        --runner=FnApiRunner --direct_num_workers=1            (the default)
  multi_processing  the same plus --direct_running_mode=multi_processing --direct_num_workers=<cores>
Both runs happen in this one invocation, in-process first (--multi-first: the other way round),
so machine load affects both sides.
Last line: `in_process_s=<s> multi_processing_s=<s> ratio=<multi/in> workers=<n> examples=<n>`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, "benchmarks"))

from beam_runners import (BEAM_NODES, benchmark_data, print_ratio_table,  # noqa: E402
                          run_child)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=0,
                        help="images per class and split (0: all of data/fashion_binary)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--multi-first", action="store_true",
                        help="run the multi-processing side first (to see the order's effect)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-direct-")
    try:
        data, n = benchmark_data(work, args.per_class)
        common = [f"data.root={data}", "model.image_size=32"]
        print(f"Beam components {', '.join(BEAM_NODES)} on {n} images; wall times depend on "
              f"machine load (both runs in this invocation, one after the other).", flush=True)
        multi_args = (f"beam.extra_args=[--direct_running_mode=multi_processing,"
                      f"--direct_num_workers={args.workers}]")
        times = {}
        for side in (("multi", "in") if args.multi_first else ("in", "multi")):
            if side == "in":
                times[side] = run_child(common + [f"output.root={work}/in"], "in_process")
                print(f"in_process (FnApiRunner, 1 worker): {times[side]:.1f} s", flush=True)
            else:
                times[side] = run_child(common + [multi_args, f"output.root={work}/multi"],
                                        "multi_processing")
                print(f"multi_processing ({args.workers} worker processes): "
                      f"{times[side]:.1f} s", flush=True)
        in_s, multi_s = times["in"], times["multi"]
        print_ratio_table("local Beam mode", ("in-process (default)", in_s),
                          (f"multi-processing, {args.workers} workers", multi_s), "in-process")
        print(f"in_process_s={in_s:.1f} multi_processing_s={multi_s:.1f} "
              f"ratio={multi_s / in_s:.2f} workers={args.workers} examples={n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Single-image latency, measured the way it is reported: median (and p10/p90) of `runs` calls
after `warmup` untimed calls, in milliseconds.

TensorFlow fixes its thread pools when its runtime starts, so the SavedModel is timed in a fresh
process per thread count with `tf.config.threading` set explicitly (intra-op = the thread count,
inter-op = 1). The processes start (import TensorFlow, load the model) side by side, then are
timed one at a time, so no measurement shares the CPU with another:

    python -m modules.latency SAVED_MODEL_DIR IMAGES.npy THREADS RUNS WARMUP [--wait]
      -> JSON on stdout (with --wait: 'ready' first, then waits for a line on stdin)
"""
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Sequence

import numpy as np

LATENCY_RUNS = 50
WARMUP_RUNS = 5


def time_calls(fn: Callable[[np.ndarray], object], images: np.ndarray, runs: int = LATENCY_RUNS,
               warmup: int = WARMUP_RUNS) -> Dict[str, float]:
    """Times `fn(images[i:i+1])` (cycling through `images`): median/p10/p90 ms over `runs`."""
    for i in range(warmup):
        fn(images[i % len(images):i % len(images) + 1])
    times = []
    for i in range(runs):
        one = images[i % len(images):i % len(images) + 1]
        start = time.perf_counter()
        fn(one)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": float(np.median(times)), "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90)), "runs": int(runs)}


def median_latency_ms(fn, image: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    """Median wall time of `fn(image)` over `runs` calls after 5 warm-up calls, in milliseconds."""
    for _ in range(WARMUP_RUNS):
        fn(image)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(image)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def saved_model_latency(saved_model_dir: str, images: np.ndarray, threads: Sequence[int],
                        runs: int = LATENCY_RUNS, warmup: int = WARMUP_RUNS,
                        timeout_s: float = 600) -> Dict[str, Dict[str, float]]:
    """{str(threads): time_calls(...)} of the SavedModel's `serving_image` signature, one fresh
    process per thread count (loaded concurrently, timed one after another; each result has
    its wall-clock `started_at` / `ended_at`, s since the epoch). images: float32 [N, H, W, 3]
    (the Transform output)."""
    out: Dict[str, Dict[str, float]] = {}
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        path = os.path.join(tmp, "images.npy")
        np.save(path, np.asarray(images[:max(1, min(len(images), 8))], np.float32))
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        procs = {}
        try:
            for t in threads:
                stderr = open(os.path.join(tmp, f"stderr-{int(t)}.txt"), "w+", encoding="utf-8")
                procs[int(t)] = (subprocess.Popen(
                    [sys.executable, "-m", "modules.latency", saved_model_dir, path, str(int(t)),
                     str(int(runs)), str(int(warmup)), "--wait"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                    env=env, cwd=root), stderr)
            for t, (proc, stderr) in procs.items():
                if _read_line(proc, deadline) != "ready":
                    raise RuntimeError(f"SavedModel latency ({t} threads) failed to load: "
                                       f"{_tail(proc, stderr)}")
            for t, (proc, stderr) in procs.items():  # one at a time: nothing else running
                stdout, _ = proc.communicate("go\n", timeout=max(1.0, deadline - time.monotonic()))
                if proc.returncode != 0:
                    raise RuntimeError(f"SavedModel latency ({t} threads) failed: "
                                       f"{_tail(proc, stderr)}")
                out[str(t)] = json.loads(stdout.strip().splitlines()[-1])
        finally:
            for proc, stderr in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                stderr.close()
    return out


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    """The next stdout line of `proc` ('' at its end), waiting until `deadline` (monotonic)."""
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    if not ready:
        raise RuntimeError("SavedModel latency: timed out loading the model")
    return proc.stdout.readline().strip()


def _tail(proc: subprocess.Popen, stderr) -> str:
    proc.wait()
    stderr.seek(0)
    return " | ".join(stderr.read().strip().splitlines()[-3:]) or f"exit code {proc.returncode}"


def _measure_saved_model(saved_model_dir: str, images_path: str, threads: int, runs: int,
                         warmup: int, wait: bool = False) -> Dict[str, float]:
    import tensorflow as tf

    from modules.features import IMAGE_SIGNATURE
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures[IMAGE_SIGNATURE]
    images = np.load(images_path)
    if wait:  # loaded: wait for the parent's turn (its other processes may be timing)
        print("ready", flush=True)
        sys.stdin.readline()
    started_at = time.time()
    result = time_calls(lambda x: fn(tf.constant(x, tf.float32)), images, runs, warmup)
    result["started_at"], result["ended_at"] = started_at, time.time()
    result["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    result["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    return result


if __name__ == "__main__":
    model_dir, images_file, n_threads, n_runs, n_warmup = sys.argv[1:6]
    print(json.dumps(_measure_saved_model(model_dir, images_file, int(n_threads), int(n_runs),
                                          int(n_warmup), wait="--wait" in sys.argv[6:])))

"""Single-image latency, measured the way it is reported: median (and p10/p90) of `runs` calls
after `warmup` untimed calls, in milliseconds.

TensorFlow fixes its thread pools when its runtime starts, so the SavedModel is timed in a fresh
process per thread count with `tf.config.threading` set explicitly (intra-op = the thread count,
inter-op = 1):

    python -m modules.latency SAVED_MODEL_DIR IMAGES.npy THREADS RUNS WARMUP   -> JSON on stdout
"""
import json
import os
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
    process per thread count. images: float32 [N, H, W, 3] (the Transform output)."""
    out: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        path = os.path.join(tmp, "images.npy")
        np.save(path, np.asarray(images[:max(1, min(len(images), 8))], np.float32))
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for t in threads:
            proc = subprocess.run([sys.executable, "-m", "modules.latency", saved_model_dir, path,
                                   str(int(t)), str(int(runs)), str(int(warmup))],
                                  capture_output=True, text=True, env=env, cwd=root,
                                  timeout=timeout_s)
            if proc.returncode != 0:
                tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
                raise RuntimeError(f"SavedModel latency ({t} threads) failed: {tail}")
            out[str(int(t))] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _measure_saved_model(saved_model_dir: str, images_path: str, threads: int, runs: int,
                         warmup: int) -> Dict[str, float]:
    import tensorflow as tf

    from modules.features import IMAGE_SIGNATURE
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures[IMAGE_SIGNATURE]
    images = np.load(images_path)
    result = time_calls(lambda x: fn(tf.constant(x, tf.float32)), images, runs, warmup)
    result["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    result["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    return result


if __name__ == "__main__":
    model_dir, images_file, n_threads, n_runs, n_warmup = sys.argv[1:6]
    print(json.dumps(_measure_saved_model(model_dir, images_file, int(n_threads), int(n_runs),
                                          int(n_warmup))))

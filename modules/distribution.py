"""The Trainer's `tf.distribute` strategy, chosen by what the process sees.

    TF_CONFIG naming more than one task (chief / worker)  -> MultiWorkerMirroredStrategy
        (a Vertex AI Training job with replica_count > 1 sets TF_CONFIG on every replica; each
        replica uses all of its local GPUs)
    several GPUs                                          -> MirroredStrategy over them
    no GPU, several logical CPU devices                   -> MirroredStrategy over them
        (only when the process configured them, as the tests do; TensorFlow's default is one)
    one GPU, or one CPU                                   -> the default strategy (no-op scope)

Model building, pruning wrappers and compile run inside `strategy.scope()` (modules/trainer.py).
Keras splits each global batch over the replicas: the global batch size is the per-replica batch
size (the Tuner's / config's `batch_size`) times `num_replicas_in_sync`. Only the chief writes the
model and the summary; other workers save to a scratch directory (every worker must take part in
a multi-worker save) and wait for the chief's export.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Optional

import tensorflow as tf

TF_CONFIG = "TF_CONFIG"
_TRAINING_TASK_TYPES = ("chief", "worker", "master")  # 'evaluator' and 'ps' take no replica


def tf_config(env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """TF_CONFIG as a dict ({} when unset or empty)."""
    raw = (os.environ if env is None else env).get(TF_CONFIG, "")
    return json.loads(raw) if raw.strip() else {}


def cluster_workers(config: Dict[str, Any]) -> int:
    """Training tasks (chief + workers) in a TF_CONFIG cluster; 0 without a cluster."""
    cluster = config.get("cluster") or {}
    return sum(len(cluster.get(t) or []) for t in _TRAINING_TASK_TYPES)


def is_chief(config: Optional[Dict[str, Any]] = None) -> bool:
    """True for a single process, for the `chief` (or `master`) task, and for worker 0 of a
    cluster without a chief: the one task that writes the model and its summary."""
    config = tf_config() if config is None else config
    if cluster_workers(config) <= 1:
        return True
    task = config.get("task") or {}
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    cluster = config.get("cluster") or {}
    if kind in ("chief", "master"):
        return True
    return kind == "worker" and index == 0 and not (cluster.get("chief") or cluster.get("master"))


def strategy_kind(workers: int, gpus: int, cpus: int) -> str:
    """'multi_worker' | 'mirrored_gpu' | 'mirrored_cpu' | 'default' (the table above)."""
    if workers > 1:
        return "multi_worker"
    if gpus > 1:
        return "mirrored_gpu"
    if gpus == 0 and cpus > 1:
        return "mirrored_cpu"
    return "default"


def choose_strategy(env: Optional[Dict[str, str]] = None) -> tf.distribute.Strategy:
    """The strategy for this process (see the module docstring). The multi-worker strategy is
    created before anything lists devices: collective ops must be configured before TensorFlow's
    runtime starts."""
    if cluster_workers(tf_config(env)) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    kind = strategy_kind(1, len(gpus), len(cpus))
    if kind == "mirrored_gpu":
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    if kind == "mirrored_cpu":
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica: int, strategy: tf.distribute.Strategy) -> int:
    """The batch a dataset must yield so that each replica gets `per_replica` examples."""
    return int(per_replica) * int(strategy.num_replicas_in_sync)


def describe(strategy: tf.distribute.Strategy, per_replica_batch: int) -> Dict[str, Any]:
    """What training_summary.json records about distribution."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: the current device
        devices = [d.name for d in tf.config.list_logical_devices(
            "GPU" if tf.config.list_logical_devices("GPU") else "CPU")[:1]]
    config = tf_config()
    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # the class is CollectiveAllReduceStrategy
    return {"strategy": name,
            "replicas": int(strategy.num_replicas_in_sync),
            "workers": max(1, cluster_workers(config)),
            "devices": devices,
            "gpus_visible": len(tf.config.list_logical_devices("GPU")),
            "per_replica_batch_size": int(per_replica_batch),
            "global_batch_size": global_batch_size(per_replica_batch, strategy)}


def wait_for_chief_export(serving_model_dir: str, timeout_s: float = 1800.0,
                          poll_s: float = 10.0) -> None:
    """A non-chief worker returns only once the chief's SavedModel exists (TFX's Trainer
    executor checks that the serving model directory exists after run_fn, on every replica)."""
    marker = os.path.join(serving_model_dir, "saved_model.pb")
    deadline = time.time() + timeout_s
    while not tf.io.gfile.exists(marker):
        if time.time() > deadline:
            raise TimeoutError(f"the chief wrote no model to {serving_model_dir} within "
                               f"{timeout_s:.0f} s")
        time.sleep(poll_s)

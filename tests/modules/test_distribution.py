"""The Trainer's tf.distribute strategy (modules/distribution.py), mixed precision and XLA
(modules/model.py, modules/training.py).

The strategy path runs for real on CPU: tests/modules/distributed_child.py trains the VGG16
transfer model through `modules.trainer.train` in a fresh interpreter with one logical CPU device
(the default strategy: the no-op path every local run takes), with two (MirroredStrategy over
both), and as a chief + worker pair told the cluster by TF_CONFIG (MultiWorkerMirroredStrategy).
Logical devices and collective ops must be configured before TensorFlow starts, hence the
subprocesses (about a minute and a half each on a loaded 2-core machine).
Mixed precision is checked in-process on the real model (per-layer dtype policies, no global state).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tf_keras

from modules import distribution
from modules.model import build_model, float32_copy, uses_mixed_precision
from modules.training import compile_model

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("distributed_child.py")


# ------------------------------------------------------------------ which strategy, pure logic


@pytest.mark.parametrize("workers, gpus, cpus, kind", [
    (0, 0, 1, "default"),          # this machine, CI: one CPU device
    (1, 1, 1, "default"),          # one GPU: the default strategy on it
    (0, 4, 1, "mirrored_gpu"),     # a2-highgpu-4g, n1 + 4 x T4
    (0, 0, 2, "mirrored_cpu"),     # only when the process configured logical CPU devices
    (3, 2, 1, "multi_worker"),     # Vertex replica_count 3 (TF_CONFIG)
])
def test_strategy_kind(workers, gpus, cpus, kind):
    assert distribution.strategy_kind(workers, gpus, cpus) == kind


VERTEX_TF_CONFIG = {"cluster": {"chief": ["cmle-training-workerpool0-0:2222"],
                                "worker": ["cmle-training-workerpool1-0:2222",
                                           "cmle-training-workerpool1-1:2222"]},
                    "task": {"type": "worker", "index": 1}, "environment": "cloud"}


def test_tf_config_as_vertex_sets_it():
    env = {"TF_CONFIG": json.dumps(VERTEX_TF_CONFIG)}
    config = distribution.tf_config(env)
    assert distribution.cluster_workers(config) == 3
    assert not distribution.is_chief(config)
    assert distribution.is_chief({**config, "task": {"type": "chief", "index": 0}})
    # Without a chief, worker 0 writes; one replica (Vertex sets a chief-only TF_CONFIG) is chief.
    no_chief = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}
    assert distribution.is_chief(no_chief)
    assert not distribution.is_chief({**no_chief, "task": {"type": "worker", "index": 1}})
    single = {"cluster": {"chief": ["a:1"]}, "task": {"type": "chief", "index": 0}}
    assert distribution.cluster_workers(single) == 1 and distribution.is_chief(single)
    assert distribution.tf_config({}) == {} and distribution.tf_config({"TF_CONFIG": " "}) == {}
    assert distribution.is_chief({})


def test_this_process_gets_the_default_strategy_a_no_op():
    import tensorflow as tf
    strategy = distribution.choose_strategy(env={})
    assert strategy is tf.distribute.get_strategy()  # the default strategy itself
    assert distribution.global_batch_size(32, strategy) == 32
    described = distribution.describe(strategy, 32)
    assert described["replicas"] == 1 and described["global_batch_size"] == 32
    assert described["devices"] and described["workers"] == 1


# ----------------------------------------------------------- the strategy path, for real on CPU


def _run_child(*args, tf_config=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, str(CHILD), *args], cwd=str(REPO), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _result(proc):
    out, _ = proc.communicate(timeout=900)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, out[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def children():
    """One logical CPU device and two, trained at the same time."""
    procs = {1: _run_child("--cpus", "1"), 2: _run_child("--cpus", "2")}
    return {n: _result(p) for n, p in procs.items()}


def _assert_pruned_to_target(r):
    """Activation-aware pruning (the default score) of the head to 0.5: the output layer's
    inputs that are always 0 on the 16 training images (dead ReLUs of an 8-unit head) have no
    effect and are pruned first, so it may be sparser than the target, never less sparse."""
    assert r["pruning_score"] == "activation_aware"
    assert r["pruning_sparsity"]["head_dense"] == 0.5
    assert r["pruning_sparsity"]["predictions"] >= 0.5


def test_one_cpu_device_trains_in_the_default_strategy(children):
    r = children[1]
    d = r["summary"]["distribution"]
    assert r["strategy"] == d["strategy"] == "_DefaultDistributionStrategy"
    assert (d["replicas"], d["per_replica_batch_size"], d["global_batch_size"]) == (1, 4, 4)
    assert r["train_batch_size"] == 4 and r["train_steps_per_epoch"] == 4  # 16 images
    assert r["head_kernel_type"] == "ResourceVariable"  # plain variables: nothing distributed
    assert r["finite_loss"]
    _assert_pruned_to_target(r)
    assert r["summary"]["precision"]["loss_scaling"] is False
    assert r["summary"]["jit_compile"] is False  # XLA off by default


def test_two_cpu_devices_train_in_a_mirrored_strategy(children):
    r = children[2]
    d = r["summary"]["distribution"]
    assert r["logical_cpus"] == 2
    assert r["strategy"] == d["strategy"] == "MirroredStrategy"
    assert d["replicas"] == 2 and len(d["devices"]) == 2
    # global batch = per-replica x replicas: the dataset yields 8, each replica gets 4
    assert (d["per_replica_batch_size"], d["global_batch_size"]) == (4, 8)
    assert r["train_batch_size"] == 8 and r["train_steps_per_epoch"] == 2
    # built, pruned (wrappers), stripped and compiled in the strategy's scope: mirrored variables
    assert r["head_kernel_type"] == "MirroredVariable"
    _assert_pruned_to_target(r)
    assert r["finite_loss"]
    assert 0.0 <= r["summary"]["final_validation"]["accuracy"] <= 1.0


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_from_tf_config_train_in_a_multi_worker_strategy():
    """What a Vertex AI Training job with replica_count 2 runs: a chief and a worker, each told
    the cluster by TF_CONFIG, training together over localhost (about 3 minutes here)."""
    chief_port, worker_port = _free_ports(2)
    cluster = {"chief": [f"localhost:{chief_port}"], "worker": [f"localhost:{worker_port}"]}
    procs = [_run_child(tf_config={"cluster": cluster, "task": {"type": kind, "index": 0}})
             for kind in ("chief", "worker")]
    chief, worker = [_result(p) for p in procs]
    assert (chief["chief"], worker["chief"]) == (True, False)
    for r in (chief, worker):
        d = r["summary"]["distribution"]
        assert d["strategy"] == "MultiWorkerMirroredStrategy"
        assert (d["workers"], d["replicas"]) == (2, 2)
        assert (d["per_replica_batch_size"], d["global_batch_size"]) == (4, 8)
        assert r["head_kernel_type"] == "MirroredVariable"
        _assert_pruned_to_target(r)
        assert r["finite_loss"]
    # one model, trained in lockstep: both workers end with the same metrics and masks
    assert chief["pruning_sparsity"] == worker["pruning_sparsity"]
    assert chief["summary"]["final_validation"] == worker["summary"]["final_validation"]


# --------------------------------------------------------------- mixed precision and XLA


@pytest.fixture(scope="module")
def mixed_model():
    return build_model(32, 2, head_units=8, dropout=0.0, base_trainable=True,
                       dtype_policy="mixed_float16", seed=0)


def test_mixed_precision_layers_and_float32_output(mixed_model):
    policies = {layer.name: layer.dtype_policy.name for layer in mixed_model.layers}
    assert policies["block1_conv1"] == policies["head_dense"] == "mixed_float16"
    assert policies["predictions"] == "float32"  # probabilities and the loss stay float32
    assert policies["vgg_preprocess"] == "float32"  # values up to 255 minus the mean
    assert mixed_model.output.dtype.name == "float32"
    assert mixed_model.get_layer("block1_conv1").kernel.dtype.name == "float32"  # master weights
    assert uses_mixed_precision(mixed_model)


def test_float16_gets_loss_scaling_and_trains_a_step(mixed_model):
    compile_model(mixed_model, 1e-3, 2)
    assert isinstance(mixed_model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    logs = mixed_model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_float32_copy_is_float32_with_the_same_weights(mixed_model):
    copy = float32_copy(mixed_model)
    assert not uses_mixed_precision(copy)
    assert all(layer.dtype_policy.name == "float32" for layer in copy.layers)
    for a, b in zip(mixed_model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(copy(x, training=False).numpy(),
                               mixed_model(x, training=False).numpy(), atol=2e-2)


def test_export_of_a_mixed_precision_model_is_float32(mixed_model, tmp_path):
    import tensorflow as tf

    from modules import export
    export.save_image_model(mixed_model, str(tmp_path))
    sig = tf.saved_model.load(str(tmp_path)).signatures[export.IMAGE_SIGNATURE]
    assert {v.dtype.name for v in sig.structured_outputs.values()} == {"float32"}
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    saved = export.load_image_signature(str(tmp_path))(x)
    assert saved.dtype == np.float32
    np.testing.assert_allclose(saved, mixed_model(x, training=False).numpy(), atol=2e-2)


def test_float32_model_is_left_alone_and_xla_is_switchable():
    model = build_model(32, 2, head_units=8, dropout=0.0, seed=0)
    assert float32_copy(model) is model  # the default path: no clone, no copy
    compile_model(model, 1e-3, 2)
    assert model.jit_compile is False and not isinstance(
        model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    compile_model(model, 1e-3, 2, jit_compile=True)
    assert model.jit_compile is True


def test_bad_dtype_policy_is_refused():
    with pytest.raises(ValueError, match="dtype_policy"):
        build_model(32, 2, dtype_policy="float16")

"""The `compression` profile's chain (issue #14: the combination benchmarks/compression.py
recommends) through the Trainer's own `train()` on a small real model (32x32 VGG16 with the
ImageNet weights, bright vs dark images), then its int8 TFLite through the ExportPusher's parity
gate (`Executor._check_variant`: conversion, TensorFlow's interpreter and standalone LiteRT,
the int8 thresholds of modules/tflite_variants.py). Only the epoch counts are shrunk; the
compression settings are the profile's. tf.functions run eagerly (no minutes of tracing).
"""
import json

import numpy as np
import pytest

from components.export_pusher import parity
from components.export_pusher.executor import Executor
from modules import export, qat, trainer
from modules.configs import RunConfig
from modules.data import arrays_dataset
from pipeline.config import load_config

SIZE = 32
# the profile's own fine-tune budgets (2 epochs after filter pruning, 4 while pruning to 80 %):
# with 1 and 2 epochs of 6 steps the 48-image model recovered or not depending on the random
# draws (a ranking with AUC 1.0 on one side of 0.5)
SHRINK = ["trainer.epochs=3", "trainer.fine_tune.unfreeze_blocks=0",
          "trainer.pruning.frequency=2", "model.head_units=64"]


def _bright_vs_dark(n, seed):
    """Textured images; label 1 = brighter. float32 [n, SIZE, SIZE, 3] in [0, 255]."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    base = np.where(labels == 1, 190.0, 60.0)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 25, (n, SIZE, SIZE, 3)), 0, 255).astype(np.float32)
    return images, labels


def test_compression_profile_model_passes_the_int8_parity_gate_in_litert(eager, tmp_path):
    from pipeline.weights import load_vgg16_weights_info, provision_vgg16_weights
    weights = load_vgg16_weights_info() or provision_vgg16_weights()
    config = load_config(profile="compression", overrides=SHRINK)
    tr = config.trainer
    assert tr.pruning.target_sparsity >= 0.8 and tr.pruning.layers == "all"
    cfg = RunConfig(seed=0, class_names=["dark", "bright"], weights_path=weights.path,
                    weights_source="imagenet", model=config.model, trainer=tr,
                    tuner=config.tuner)
    x_train, y_train = _bright_vs_dark(48, seed=1)
    x_held, y_held = _bright_vs_dark(40, seed=2)
    # batches of 4: 12 steps per epoch, so that 48 images give the fine-tunes enough steps
    hp = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}
    model, summary = trainer.train(
        cfg, hp, arrays_dataset(x_train, y_train, 4, shuffle=True, seed=0),
        arrays_dataset(x_train[:16], y_train[:16], 4, shuffle=False, seed=0), y_train)

    # what each step did is in the training summary (the report's training table reads it)
    assert summary["pruning"]["overall_sparsity"] == pytest.approx(tr.pruning.target_sparsity,
                                                                   abs=0.01)
    if tr.structured_pruning.enabled:
        sp = summary["structured_pruning"]
        assert sp["params_after"] < sp["params_before"] / 2
        assert sp["filters"]["block5_conv3"] == {"kept": 256, "total": 512}
    if tr.clustering.enabled:
        assert summary["clustering"]["clusters"]["block3_conv1"] == 16
    if tr.quantization_aware.enabled:
        assert summary["quantization_aware"]["scheme"] == (
            "pcqat" if tr.clustering.enabled else "pqat")
        assert np.mean(qat.kernel(model, "block3_conv1") == 0) >= 0.79

    saved = str(tmp_path / "model")
    export.save_image_model(model, saved)
    sm_probs = export.load_image_signature(saved)(x_held)
    parity.check_not_single_class(sm_probs, y_held, cfg.class_names, "test")
    assert np.mean((sm_probs[:, 0] >= 0.5) == y_held) >= 0.9  # the compressed model still works
    info, probs = Executor()._check_variant(
        "int8", saved, str(tmp_path), x_held, y_held, sm_probs, x_train, cfg.class_names,
        threads=[1], runs=5, python="",
        exec_properties={"min_agreement": json.dumps({}), "max_probability_diff": "{}"},
        seconds=(seconds := {}))
    assert not info.get("reasons"), info.get("reason")
    assert info["litert"]["loaded"] and info["litert"]["runtime"].startswith("ai-edge-litert")
    lrt = info["runtimes"]["LiteRT"]
    assert info["min_agreement"] == 0.98
    assert lrt["agree"] >= parity.required(0.98, lrt["examples"]) == 39  # of 40
    assert info["max_abs_diff"] <= info["max_probability_diff"]
    assert probs.shape == sm_probs.shape
    assert {"int8_convert", "int8_litert", "gzip"} <= set(seconds)  # the stages were timed

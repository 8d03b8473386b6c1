"""modules/pruning.py: wrapping keeps weights, the schedules reach their target sparsity."""
import numpy as np
import pytest
import tf_keras
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude)

from modules import pruning
from modules.configs import PruningConfig
from modules.pruning import (apply_pruning, build_schedule, layer_sparsity, overall_sparsity,
                             recovery_start_epoch, strip_pruning, target_step)

PRUNED = ["conv_a", "dense_a"]
BATCH = 4


def _small_model(seed=0):
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(inputs)
    x = tf_keras.layers.Conv2D(8, 3, activation="relu", name="conv_b")(x)
    x = tf_keras.layers.Flatten(name="flat")(x)
    x = tf_keras.layers.Dense(16, activation="relu", name="dense_a")(x)
    outputs = tf_keras.layers.Dense(1, activation="sigmoid", name="out")(x)
    return tf_keras.Model(inputs, outputs)


def _data(steps_per_epoch, seed=0):
    rng = np.random.default_rng(seed)
    n = steps_per_epoch * BATCH
    return (rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32),
            rng.integers(0, 2, (n, 1)).astype(np.float32))


def _fine_tune(schedule_cfg: PruningConfig, steps_per_epoch: int, epochs: int, callbacks=()):
    """As modules/trainer.py does: build_schedule, wrap, fit with UpdatePruningStep, strip.

    Eager fit: the same pruning code as graph mode, without ~20 s of one-time autograph
    conversion of tfmot on this shared machine (the pipeline run covers graph mode).
    """
    model = _small_model()
    schedule = build_schedule(schedule_cfg, total_steps=steps_per_epoch * epochs)
    pruned = apply_pruning(model, PRUNED, schedule)
    pruned.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                   run_eagerly=True)
    x, y = _data(steps_per_epoch)
    pruned.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
               callbacks=[pruning.sparsity.UpdatePruningStep(), *callbacks])
    return strip_pruning(pruned)


def _weights(model, names):
    return {n: [w.copy() for w in model.get_layer(n).get_weights()] for n in names}


def test_apply_pruning_keeps_weights_of_wrapped_and_unwrapped_layers():
    model = _small_model(seed=3)
    all_names = ["conv_a", "conv_b", "dense_a", "out"]
    before = _weights(model, all_names)
    x, _ = _data(2)
    out_before = model(x, training=False).numpy()

    pruned = apply_pruning(model, PRUNED, pruning.sparsity.ConstantSparsity(0.5, 0))
    wrapped = {layer.name: layer for layer in pruned.layers if isinstance(layer, PruneLowMagnitude)}
    assert sorted(wrapped) == ["prune_low_magnitude_conv_a", "prune_low_magnitude_dense_a"]
    for name in PRUNED:
        inner = wrapped[f"prune_low_magnitude_{name}"].layer
        for got, want in zip(inner.get_weights(), before[name]):
            np.testing.assert_array_equal(got, want)
    for name in ("conv_b", "out"):
        for got, want in zip(pruned.get_layer(name).get_weights(), before[name]):
            np.testing.assert_array_equal(got, want)
    # masks start all-ones: same function as the original model until training prunes
    np.testing.assert_allclose(pruned(x, training=False).numpy(), out_before, atol=1e-6)


def test_apply_pruning_unknown_layer_raises():
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['block9_conv1'\]"):
        apply_pruning(_small_model(), ["conv_a", "block9_conv1"],
                      pruning.sparsity.ConstantSparsity(0.5, 0))


def test_constant_schedule_reaches_target():
    stripped = _fine_tune(PruningConfig(schedule="constant", target_sparsity=0.5),
                          steps_per_epoch=3, epochs=2)
    assert not any("prune_low_magnitude" in layer.name for layer in stripped.layers)
    sp = layer_sparsity(stripped, PRUNED)
    assert set(sp) == set(PRUNED)
    for name, value in sp.items():
        assert value == pytest.approx(0.5, abs=0.02), (name, value)
    others = layer_sparsity(stripped)  # no names: every layer with a kernel
    assert set(others) == {"conv_a", "conv_b", "dense_a", "out"}
    assert others["conv_b"] < 0.05 and others["out"] < 0.05
    assert overall_sparsity(stripped, PRUNED) == pytest.approx(0.5, abs=0.02)


class _RecordSparsity(tf_keras.callbacks.Callback):
    """Sparsity of the wrapped conv_a kernel after each epoch (after UpdatePruningStep re-masks)."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        kernel = self.model.get_layer("prune_low_magnitude_conv_a").layer.kernel.numpy()
        self.values.append(float(np.mean(kernel == 0.0)))


def test_polynomial_schedule_ramps_up_to_final():
    record = _RecordSparsity()
    stripped = _fine_tune(PruningConfig(schedule="polynomial", initial_sparsity=0.1,
                                          target_sparsity=0.8, frequency=1),
                          steps_per_epoch=3, epochs=2, callbacks=[record])
    first, last = record.values
    assert 0.1 < first < 0.8 - 0.05, record.values  # part-way after epoch 1 of 2
    assert last == pytest.approx(0.8, abs=0.02)
    for name, value in layer_sparsity(stripped, PRUNED).items():
        assert value == pytest.approx(0.8, abs=0.02), (name, value)


def test_polynomial_schedule_default_frequency_reaches_final():
    # the config default frequency (100) is more than the fine-tuning steps
    stripped = _fine_tune(PruningConfig(schedule="polynomial", target_sparsity=0.6),
                          steps_per_epoch=3, epochs=2)
    for name, value in layer_sparsity(stripped, PRUNED).items():
        assert value == pytest.approx(0.6, abs=0.02), (name, value)


def test_polynomial_schedule_with_begin_step_reaches_final():
    stripped = _fine_tune(PruningConfig(schedule="polynomial", target_sparsity=0.6, begin_step=2),
                          steps_per_epoch=3, epochs=2)
    for name, value in layer_sparsity(stripped, PRUNED).items():
        assert value == pytest.approx(0.6, abs=0.02), (name, value)


def test_schedule_build_values_and_unknown_kind():
    const = build_schedule(PruningConfig(schedule="constant", target_sparsity=0.3, frequency=100), 40)
    assert const.get_config()["config"]["target_sparsity"] == 0.3
    # not capped to the fine-tune's 40 steps (that masked only at the last step: no recovery)
    assert const.get_config()["config"]["frequency"] == 100
    assert const.get_config()["config"]["begin_step"] == 1  # tfmot's first step
    poly = build_schedule(PruningConfig(schedule="polynomial", target_sparsity=0.7, initial_sparsity=0.2,
                           frequency=5), total_steps=50)
    cfg = poly.get_config()["config"]
    assert (cfg["initial_sparsity"], cfg["final_sparsity"], cfg["end_step"]) == (0.2, 0.7, 50)
    with pytest.raises(ValueError, match="'cubic'"):
        build_schedule(PruningConfig(schedule="cubic"), 10)


def test_polynomial_end_step_not_on_an_update_step_still_reaches_final():
    # 6 steps, frequency 4: updates at steps 0 and 4 only; the ramp must end at step 4, not 6
    schedule = PruningConfig(schedule="polynomial", initial_sparsity=0.3, target_sparsity=0.8,
                               frequency=4)
    cfg = build_schedule(schedule, total_steps=6).get_config()["config"]
    assert (cfg["end_step"], cfg["frequency"]) == (4, 4)
    stripped = _fine_tune(schedule, steps_per_epoch=3, epochs=2)
    for name, value in layer_sparsity(stripped, PRUNED).items():
        assert value == pytest.approx(0.8, abs=0.02), (name, value)
    explicit = build_schedule(PruningConfig(schedule="polynomial", target_sparsity=0.8, end_step=38,
                               frequency=20), total_steps=57).get_config()["config"]
    assert (explicit["end_step"], explicit["frequency"]) == (20, 20)


def test_ramp_fraction_ends_the_polynomial_ramp_early():
    """ramp_fraction 0.5 of 40 steps: the target is reached at step 20, then the mask holds."""
    ramp = PruningConfig(schedule="polynomial", target_sparsity=0.5, ramp_fraction=0.5,
                         frequency=1)
    assert build_schedule(ramp, total_steps=40).get_config()["config"]["end_step"] == 20
    full = PruningConfig(schedule="polynomial", target_sparsity=0.5, frequency=1)
    assert build_schedule(full, total_steps=40).get_config()["config"]["end_step"] == 40


def test_constant_schedule_prunes_from_the_first_step_then_recovers():
    """The target is in force after the first of 3 epochs (the old cap of the frequency to the
    fine-tune's steps masked only at the last step, leaving nothing to recover)."""
    record = _RecordSparsity()
    _fine_tune(PruningConfig(schedule="constant", target_sparsity=0.5), steps_per_epoch=3,
               epochs=3, callbacks=[record])
    assert record.values == pytest.approx([0.5, 0.5, 0.5], abs=0.02)


def test_recovery_starts_with_the_first_epoch_at_the_target_sparsity():
    constant = build_schedule(PruningConfig(schedule="constant"), total_steps=30)
    assert (target_step(constant), recovery_start_epoch(constant, 10)) == (1, 0)
    late = build_schedule(PruningConfig(schedule="constant", begin_step=25), total_steps=30)
    assert recovery_start_epoch(late, 10) == 2  # step 25 is in the third epoch (steps 21-30)
    ramp = build_schedule(PruningConfig(schedule="polynomial", ramp_fraction=0.5, frequency=1),
                          total_steps=40)
    assert (target_step(ramp), recovery_start_epoch(ramp, 10)) == (20, 1)  # ends epoch 2
    full = build_schedule(PruningConfig(schedule="polynomial", frequency=1), total_steps=40)
    assert recovery_start_epoch(full, 10) == 3

"""modules/activation_aware.py: the Wanda reparametrisation is the same function, prunes by
|w| * rms(x_in), folds back to plain Dense layers, and the Trainer's pruning fine-tune uses it."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules import activation_aware, pruning, trainer
from modules.activation_aware import ScaledDense
from modules.configs import PruningConfig
from modules.data import arrays_dataset
from modules.model import build_model


def _head(seed=0):
    """x [B, 4] -> Dense(3, relu) 'dense_a' -> Dense(1, sigmoid) 'out'."""
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((4,))
    x = tf_keras.layers.Dense(3, activation="relu", name="dense_a")(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(1, activation="sigmoid", name="out")(x))


def _inputs(n=32, seed=0):
    """Feature scales 100, 1, 0.01 and always 0: RMS ~[100, 1, 0.01, 0]."""
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(size=(n, 4))).astype(np.float32) * np.float32([100, 1, 0.01, 0])
    return x, (rng.uniform(size=n) > 0.5).astype(np.float32)


def test_input_rms_is_the_root_mean_square_over_the_batches():
    model = _head()
    x, y = _inputs()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)  # last batch partial
    rms = activation_aware.input_rms(model, ["dense_a", "out"], ds)
    np.testing.assert_allclose(rms["dense_a"], np.sqrt(np.mean(x ** 2, axis=0)), rtol=1e-5)
    hidden = tf_keras.Model(model.input, model.get_layer("dense_a").output)(x).numpy()
    np.testing.assert_allclose(rms["out"], np.sqrt(np.mean(hidden ** 2, axis=0)), rtol=1e-5)


def test_scaling_and_folding_keep_the_function_and_the_weights():
    model = _head(seed=1)
    x, _ = _inputs()
    want = model(x).numpy()
    kernel = model.get_layer("dense_a").kernel.numpy().copy()
    scale = np.float32([100, 1, 0.01, 0])
    scaled = activation_aware.scale_dense_layers(model, {"dense_a": scale})
    assert isinstance(scaled.get_layer("dense_a"), ScaledDense)
    np.testing.assert_allclose(scaled.get_layer("dense_a").kernel.numpy(),
                               kernel * scale[:, None], rtol=1e-6)
    # the always-zero input's row is dropped, so compare on inputs where it is 0
    np.testing.assert_allclose(scaled(x).numpy(), want, rtol=1e-5, atol=1e-6)
    folded = activation_aware.fold_scales(scaled)
    assert type(folded.get_layer("dense_a")) is tf_keras.layers.Dense
    np.testing.assert_allclose(folded.get_layer("dense_a").kernel.numpy()[:3], kernel[:3],
                               rtol=1e-5)
    np.testing.assert_array_equal(folded.get_layer("dense_a").kernel.numpy()[3], 0.0)
    np.testing.assert_allclose(folded(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_pruning_keeps_the_weights_on_large_inputs_not_the_large_weights(eager):
    """Weights 0.01 on the RMS-100 input and 10 on the RMS-0.01 input: |w| would cut the first,
    |w| * rms cuts the second."""
    model = _head()
    kernel = np.float32([[0.01] * 3, [1.0] * 3, [10.0] * 3, [5.0] * 3])
    model.get_layer("dense_a").set_weights([kernel, np.zeros(3, np.float32)])
    x, y = _inputs()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    scales = activation_aware.input_rms(model, ["dense_a"], ds)
    scaled = activation_aware.scale_dense_layers(model, scales)
    wrapped = pruning.apply_pruning(scaled, ["dense_a"],
                                    pruning.sparsity.ConstantSparsity(0.5, begin_step=1))
    wrapped.compile(tf_keras.optimizers.SGD(0.0), "binary_crossentropy", run_eagerly=True)
    wrapped.fit(ds, epochs=1, verbose=0, callbacks=[pruning.sparsity.UpdatePruningStep()])
    folded = activation_aware.fold_scales(pruning.strip_pruning(wrapped))
    got = folded.get_layer("dense_a").kernel.numpy()
    np.testing.assert_allclose(got[:2], kernel[:2], rtol=1e-5)  # RMS 100 and 1: kept
    np.testing.assert_array_equal(got[2:], 0.0)                  # RMS 0.01 and 0: pruned
    # plain magnitude pruning of the same kernel keeps the opposite rows
    magnitude = pruning.apply_pruning(_head(), ["dense_a"],
                                      pruning.sparsity.ConstantSparsity(0.5, begin_step=1))
    magnitude.get_layer("prune_low_magnitude_dense_a").layer.set_weights(
        [kernel, np.zeros(3, np.float32)])
    magnitude.compile(tf_keras.optimizers.SGD(0.0), "binary_crossentropy", run_eagerly=True)
    magnitude.fit(ds, epochs=1, verbose=0, callbacks=[pruning.sparsity.UpdatePruningStep()])
    plain = pruning.strip_pruning(magnitude).get_layer("dense_a").kernel.numpy()
    np.testing.assert_array_equal(plain[:2], 0.0)


def test_prune_and_fine_tune_with_activation_aware_scores_exports_plain_dense(eager):
    rng = np.random.default_rng(0)
    labels = np.arange(8) % 2
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40, (8, 32, 32, 3)),
                     0, 255).astype(np.float32)
    data = arrays_dataset(images, labels.astype(np.int64), batch_size=4, shuffle=False, seed=0)
    model = build_model(32, 2, weights_path=None, head_units=16, dropout=0.0, seed=1)
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="head", schedule="constant", target_sparsity=0.5,
                             frequency=1, fine_tune_epochs=1, score="activation_aware"),
        1e-3, 2, data)
    assert info["score"] == "activation_aware"
    assert info["activation_aware_layers"] == ["head_dense", "predictions"]
    for name in ("head_dense", "predictions"):
        assert type(stripped.get_layer(name)) is tf_keras.layers.Dense
        assert info["layer_sparsity"][name] == pytest.approx(0.5, abs=0.07)
    assert not any(isinstance(layer, ScaledDense) for layer in stripped.layers)

"""modules/model.py (VGG16 transfer model, ImageNet weights) and modules/augmentation.py."""
import math

import h5py
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules.augmentation import AugmentationConfig, RandomShear, augmentation_layers
from modules.model import (CONV_LAYER_NAMES, IMAGENET_BGR_MEAN, IMAGENET_BLOCK1_CONV1_BIAS0,
                           VGGPreprocess, build_model, conv_block_of, set_base_trainable)

SIZE = 32


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    """Frozen-base model with every augmentation op enabled (they must be inert at inference)."""
    return build_model(SIZE, 2, augmentation=AugmentationConfig(), seed=7)


# --------------------------------------------------------------------------------------- model


def test_binary_model_outputs_probability(model):
    out = model(_images(3), training=False).numpy()
    assert out.shape == (3, 1)
    assert out.dtype == np.float32
    assert np.all((out >= 0.0) & (out <= 1.0))
    assert model.input_shape == (None, SIZE, SIZE, 3)
    assert model.get_layer("predictions").activation is tf_keras.activations.sigmoid


def test_inference_is_deterministic_with_augmentation_in_the_model(model):
    x = _images(2, seed=1)
    np.testing.assert_array_equal(model(x, training=False).numpy(),
                                  model(x, training=False).numpy())
    # predict/evaluate (Keras passes training=False) see the same, un-augmented outputs.
    # NB: a bare `model(x)` (training=None) DOES augment: Keras's Random* layers default to
    # training=True; the product always passes training=False (modules/export.py).
    model.compile(run_eagerly=True)  # eager predict: skips ~10 s of autograph, same semantics
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x, training=False).numpy(),
                               atol=1e-6)
    assert [layer.name for layer in model.layers[1:6]] == [
        "aug_rotation", "aug_shift", "aug_shear", "aug_zoom", "aug_flip"]


def test_multiclass_model_outputs_softmax():
    m = build_model(SIZE, 3, head_units=8)
    out = m(_images(2), training=False).numpy()
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_conv_layers_frozen_when_base_not_trainable(model):
    assert len(CONV_LAYER_NAMES) == 13
    for name in CONV_LAYER_NAMES:
        assert model.get_layer(name).trainable is False, name
    assert model.get_layer("head_dense").trainable and model.get_layer("predictions").trainable
    trainable = sorted(w.name for w in model.trainable_weights)
    assert trainable == ["head_dense/bias:0", "head_dense/kernel:0", "predictions/bias:0",
                         "predictions/kernel:0"]


def test_conv_layers_trainable_when_base_trainable():
    m = build_model(SIZE, 2, head_units=8, base_trainable=True)
    for name in CONV_LAYER_NAMES:
        assert m.get_layer(name).trainable is True, name
    assert len(m.trainable_weights) == 2 * 13 + 4


def test_set_base_trainable_top_blocks(model):
    try:
        unfrozen = set_base_trainable(model, True, top_blocks=2)
        assert unfrozen == ["block4_conv1", "block4_conv2", "block4_conv3",
                            "block5_conv1", "block5_conv2", "block5_conv3"]
        assert model.get_layer("block3_conv3").trainable is False
        assert model.get_layer("block4_conv1").trainable is True
        assert conv_block_of("block4_conv2") == 4
    finally:
        assert set_base_trainable(model, False) == []
    assert not any(model.get_layer(n).trainable for n in CONV_LAYER_NAMES)


def test_vgg_preprocess_is_bgr_minus_imagenet_mean():
    x = _images(2, seed=3)
    out = VGGPreprocess()(tf.constant(x)).numpy()
    expected = x[..., ::-1] - np.array(IMAGENET_BGR_MEAN, np.float32)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # and the same as Keras's own caffe-mode preprocess_input
    keras_ref = tf_keras.applications.vgg16.preprocess_input(x.copy())
    np.testing.assert_allclose(out, keras_ref, atol=1e-4)
    # a pure red pixel ends up in the last (R) channel
    red = np.zeros((1, 1, 1, 3), np.float32)
    red[..., 0] = 255.0
    np.testing.assert_allclose(VGGPreprocess()(tf.constant(red)).numpy()[0, 0, 0],
                               [-103.939, -116.779, 255.0 - 123.68], atol=1e-4)


def test_vgg_preprocess_survives_full_int8_quantization(tmp_path):
    """TFLite's int8 converter mis-handled REVERSE_V2 -> per-channel SUB -> conv (errors ~30 of
    255); the preprocessing must reach the first conv within ~one quantization step of float."""
    from modules.export import TFLiteModel, convert_tflite, save_image_model
    inputs = tf_keras.Input((8, 8, 3))
    conv = tf_keras.layers.Conv2D(3, 1, use_bias=False)  # identity, like block1_conv1 after it
    model = tf_keras.Model(inputs, conv(VGGPreprocess()(inputs)))
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None]])
    x = np.random.default_rng(5).uniform(0, 255, (40, 8, 8, 3)).astype(np.float32)
    save_image_model(model, str(tmp_path / "sm"))
    content = convert_tflite(str(tmp_path / "sm"), "int8", lambda: x[:, None])
    out = TFLiteModel(content).predict(x)
    expected = x[..., ::-1] - np.array(IMAGENET_BGR_MEAN, np.float32)
    assert np.mean(np.abs(out - expected)) < 1.0
    assert np.max(np.abs(out - expected)) < 2.5


def test_imagenet_weights_are_loaded(imagenet_weights_path):
    m = build_model(SIZE, 2, weights_path=imagenet_weights_path, head_units=8)
    bias = m.get_layer("block1_conv1").bias.numpy()
    assert bias[0] == pytest.approx(0.73429835, abs=1e-6)
    assert IMAGENET_BLOCK1_CONV1_BIAS0 == 0.73429835
    with h5py.File(imagenet_weights_path, "r") as f:  # the deepest layer loaded too
        kernel = f["block5_conv3"]["block5_conv3/kernel:0"][()]
        bias5 = f["block5_conv3"]["block5_conv3/bias:0"][()]
    np.testing.assert_array_equal(m.get_layer("block5_conv3").kernel.numpy(), kernel)
    np.testing.assert_array_equal(m.get_layer("block5_conv3").bias.numpy(), bias5)
    assert not any(m.get_layer(n).trainable for n in CONV_LAYER_NAMES)


def test_weights_file_with_wrong_bias_is_rejected(tmp_path):
    inputs = tf_keras.Input((SIZE, SIZE, 3))
    conv = tf_keras.layers.Conv2D(64, 3, padding="same", name="block1_conv1")
    fake = tf_keras.Model(inputs, conv(inputs))
    conv.set_weights([conv.get_weights()[0], np.full((64,), 0.5, np.float32)])
    path = str(tmp_path / "not_imagenet.h5")
    fake.save_weights(path)
    with pytest.raises(ValueError) as exc:
        build_model(SIZE, 2, weights_path=path, head_units=8)
    msg = str(exc.value)
    assert path in msg and "block1_conv1 bias[0] is 0.5" in msg and "0.73429835" in msg


# -------------------------------------------------------------------------------- augmentation


def _only(op: str) -> AugmentationConfig:
    """A config with exactly one op on (large enough to be visible)."""
    cfg = AugmentationConfig(rotation_range=0, width_shift_range=0, height_shift_range=0,
                             shear_range=0, zoom_range=0, horizontal_flip=False)
    if op == "rotation":
        cfg.rotation_range = 40.0
    elif op == "shift":
        cfg.width_shift_range = cfg.height_shift_range = 0.2
    elif op == "shear":
        cfg.shear_range = 20.0
    elif op == "zoom":
        cfg.zoom_range = 0.2
    elif op == "flip":
        cfg.horizontal_flip = True
    return cfg


def _apply(layers, x, training):
    y = tf.constant(x)
    for layer in layers:
        y = layer(y, training=training)
    return y.numpy()


@pytest.fixture(scope="module")
def test_batch(image_helpers):
    """8 copies of one asymmetric RGB image, float32 [8, 32, 32, 3] in [0, 255]."""
    image = image_helpers.asymmetric_rgb(SIZE).astype(np.float32)
    return np.repeat(image[None], 8, axis=0)


def test_augmentation_layer_list():
    assert [layer.name for layer in augmentation_layers(AugmentationConfig(), seed=1)] == [
        "aug_rotation", "aug_shift", "aug_shear", "aug_zoom", "aug_flip"]
    assert augmentation_layers(AugmentationConfig(enabled=False), seed=1) == []
    assert [layer.name for layer in augmentation_layers(_only("zoom"), seed=1)] == ["aug_zoom"]


def test_augmentation_inference_is_identity(test_batch):
    layers = augmentation_layers(AugmentationConfig(shear_range=20.0), seed=1)
    for _ in range(2):
        np.testing.assert_array_equal(_apply(layers, test_batch, training=False), test_batch)


def test_augmentation_training_calls_differ(test_batch):
    layers = augmentation_layers(AugmentationConfig(), seed=1)
    a = _apply(layers, test_batch, training=True)
    b = _apply(layers, test_batch, training=True)
    assert a.shape == test_batch.shape
    assert np.abs(a - b).mean() > 1.0
    assert np.abs(a - test_batch).mean() > 1.0
    assert np.abs(a[0] - a[1]).mean() > 1.0  # each image in a batch gets its own transform
    assert a.min() >= -1e-3 and a.max() <= 255.0 + 1e-3  # 'nearest' fill: no new values


@pytest.mark.parametrize("op", ["rotation", "shift", "shear", "zoom"])
def test_each_op_alone_changes_the_image(test_batch, op):
    layers = augmentation_layers(_only(op), seed=3)
    assert len(layers) == 1
    out = _apply(layers, test_batch, training=True)
    changed = np.abs(out - test_batch).reshape(len(out), -1).mean(axis=1)
    assert np.all(changed > 0.1), changed
    assert changed.max() > 2.0, changed
    np.testing.assert_array_equal(_apply(layers, test_batch, training=False), test_batch)


def test_flip_is_exact_mirror_or_identity(test_batch):
    layers = augmentation_layers(_only("flip"), seed=5)
    mirrored = test_batch[:, :, ::-1, :]
    outcomes = []
    for _ in range(3):
        out = _apply(layers, test_batch, training=True)
        for img, orig, mir in zip(out, test_batch, mirrored):
            if np.array_equal(img, mir):
                outcomes.append("mirror")
            elif np.array_equal(img, orig):
                outcomes.append("identity")
            else:
                pytest.fail("flip produced an image that is neither mirrored nor unchanged")
    assert set(outcomes) == {"mirror", "identity"}


def test_shear_is_about_the_centre_row_in_degrees():
    """A horizontal ramp: the centre row stays, other rows shift by tan(angle) * (y - h/2)."""
    ramp = np.tile((np.arange(SIZE, dtype=np.float32) * 8.0)[None, :, None], (SIZE, 1, 3))
    batch = np.repeat(ramp[None], 16, axis=0)
    out = RandomShear(20.0, seed=11)(tf.constant(batch), training=True).numpy()
    np.testing.assert_allclose(out[:, SIZE // 2], batch[:, SIZE // 2], atol=1e-3)
    # top row (y = 0), middle column: samples input x + shear * (0 - h/2)
    shift_px = (out[:, 0, SIZE // 2, 0] - ramp[0, SIZE // 2, 0]) / 8.0
    angles = np.degrees(np.arctan(-shift_px / (SIZE / 2)))
    assert np.all(np.abs(angles) <= 20.0 + 1e-3), angles
    assert np.abs(angles).max() > 5.0, angles      # degrees, not a tiny fraction
    assert angles.min() < 0 < angles.max()          # both directions
    # the seed's 0.2 is 0.2 degrees: a sub-pixel shear
    small = RandomShear(0.2, seed=11)(tf.constant(batch), training=True).numpy()
    assert np.abs(small - batch).max() <= math.tan(math.radians(0.2)) * SIZE / 2 * 8.0 + 1e-3


def test_every_augmentation_layer_follows_the_keras_training_convention():
    """training=True or unset (None) augments, training=False never does (as the docstring says)."""
    import tensorflow as tf
    batch = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)), tf.float32)
    cfg = AugmentationConfig(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                             shear_range=20, zoom_range=0.2, horizontal_flip=True)
    for layer in augmentation_layers(cfg, seed=3):
        np.testing.assert_array_equal(layer(batch, training=False).numpy(), batch.numpy())
        changed_unset = any(not np.allclose(layer(batch).numpy(), batch.numpy())
                            for _ in range(5))  # a flip may leave one batch unflipped
        changed_true = any(not np.allclose(layer(batch, training=True).numpy(), batch.numpy())
                           for _ in range(5))
        assert changed_unset and changed_true, layer.name

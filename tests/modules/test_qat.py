"""modules/qat.py and trainer.quantization_aware_fine_tune on the 32x32 VGG16 transfer model
(random init, magnitude-pruned): the pruned zeros survive the QAT fine-tune, layer names and
kernel variable names are kept, and the QAT model exports to int8 TFLite which runs and agrees
with it. tf.functions run eagerly (as tests/modules/test_trainer_phases.py)."""
import numpy as np
import tensorflow as tf
import tf_keras

from components.export_pusher.report.facts import exported_sparsity
from modules import clustering, export, qat, structured_pruning, trainer
from modules.configs import (AugmentationConfig, ClusteringConfig, QuantizationAwareConfig)
from modules.data import arrays_dataset
from modules.model import build_model

SIZE = 32
LAYERS = ["block5_conv3", "head_dense", "predictions"]


def _arrays(n=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40, (n, SIZE, SIZE, 3)),
                     0, 255).astype(np.float32)
    return images, labels


def _data(n=8):
    images, labels = _arrays(n)
    return arrays_dataset(images, labels, batch_size=4, shuffle=False, seed=0)


def _pruned_model(augmentation=False):
    model = build_model(SIZE, 2, weights_path=None, head_units=64, dropout=0.0, seed=2,
                        augmentation=AugmentationConfig(enabled=augmentation))
    for name in LAYERS:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[np.abs(kernel) < np.median(np.abs(kernel))] = 0.0
        layer.set_weights([kernel, bias])
    return model


def test_qat_keeps_the_zeros_and_exports_to_int8(eager, tmp_path):
    model = _pruned_model()
    zeros = {n: qat.kernel(model, n) == 0.0 for n in LAYERS}
    # 24 steps: the activation ranges (moving averages) settle; after 8 the int8 file differed
    # from the QAT model by up to 0.2
    quantized, info = trainer.quantization_aware_fine_tune(
        model, QuantizationAwareConfig(enabled=True, fine_tune_epochs=3), LAYERS, 1e-4, 2,
        _data(32), _data())
    assert [layer.name for layer in quantized.layers[2:]] == \
        [layer.name for layer in model.layers[1:]]  # names kept; a QuantizeLayer after input
    assert info["scheme"] == "pqat"
    for name in LAYERS:
        kernel = qat.kernel(quantized, name)
        np.testing.assert_array_equal(kernel[zeros[name]], 0.0)
        assert info["layer_sparsity"][name] >= info["layer_sparsity_before"][name] > 0.49
    # the kernels were fine-tuned; zeroing the float kernels again changed no output
    images, _ = _arrays()
    masked = quantized.predict(images, verbose=0)
    for name in LAYERS:
        k = qat.kernel_variable(quantized, name)
        k.assign(k.numpy() + 0.01 * (k.numpy() == 0))  # what the gradient did to the zeros
    np.testing.assert_allclose(quantized.predict(images, verbose=0), masked, atol=1e-6)
    qat.keep_zeros(quantized, {n: ~zeros[n] for n in LAYERS})
    assert not np.array_equal(qat.kernel(quantized, "head_dense"), qat.kernel(model, "head_dense"))

    saved = str(tmp_path / "qat")
    export.save_image_model(quantized, saved)
    loaded = tf.saved_model.load(saved)
    sparsity = exported_sparsity(loaded.variables, LAYERS)  # the report finds the kernels
    assert all(v is not None and v > 0.49 for v in sparsity["layers"].values())
    content = export.convert_tflite(
        saved, "int8", representative_images=lambda: (images[i:i + 1] for i in range(8)))
    # helper-72: a QAT model's own ranges keep its output layer int8 whatever the converter is
    # told; the file says so (the report's `output_layer`, MODEL.md) instead of claiming float
    assert not export.output_layer_is_float(content)
    int8 = export.TFLiteModel(content)
    out = int8.predict(images)
    assert out.shape == (8, 1)
    assert np.max(np.abs(out - quantized.predict(images, verbose=0))) < 0.05


def test_calibrated_ranges_keep_the_float_activations(eager):
    """tfmot starts every activation range at [-6, 6]: VGG16's preprocessed pixels and conv
    outputs are clipped until thousands of steps have moved the averages. calibrate_ranges starts
    them at the float model's ranges instead."""
    model = build_model(SIZE, 2, weights_path=None, head_units=64, dropout=0.0, seed=2)
    images, _ = _arrays(8)
    quantized = qat.apply_qat(model)
    name = "block2_conv1"
    reference = tf_keras.Model(model.inputs, model.get_layer(name).get_output_at(0))(images)
    (quantize_layer,) = [layer.name for layer in quantized.layers
                         if type(layer).__name__ == "QuantizeLayer"]
    probe = tf_keras.Model(quantized.inputs, quantized.get_layer(name).output)

    def relative_error():
        return float(np.max(np.abs(probe(images, training=False) - reference))
                     / np.max(np.abs(reference)))

    assert relative_error() > 0.5  # clipped at 6
    ranges = qat.calibrate_ranges(quantized, model, images)
    assert relative_error() < 0.05
    low, high = ranges["vgg_preprocess/output"]
    assert low < -100 and high > 100  # pixels minus the ImageNet means
    assert ranges[f"{quantize_layer}/input"] == (0.0, float(images.max()))
    assert "predictions/pre_activation" in ranges and ranges[f"{name}/post_activation"][0] == 0


def test_qat_wraps_a_model_with_augmentation_layers(eager):
    model = _pruned_model(augmentation=True)
    quantized = qat.apply_qat(model)
    assert [layer.name for layer in quantized.layers if layer.name.startswith("aug_")] == \
        [layer.name for layer in model.layers if layer.name.startswith("aug_")]
    images, _ = _arrays(2)
    np.testing.assert_allclose(quantized(images, training=False).numpy(),
                               model(images, training=False).numpy(), atol=0.1)


def test_cluster_preserving_qat_after_clustering_keeps_zeros(eager):
    clustered, _ = trainer.cluster_and_fine_tune(
        _pruned_model(), ClusteringConfig(enabled=True, number_of_clusters=8), LAYERS, 1e-3, 2,
        _data())
    zeros = {n: qat.kernel(clustered, n) == 0.0 for n in LAYERS}
    quantized, info = trainer.quantization_aware_fine_tune(
        clustered, QuantizationAwareConfig(enabled=True), LAYERS, 1e-3, 2, _data(),
        preserve_clusters=True)
    assert info["scheme"] == "pcqat"
    for name in LAYERS:
        kernel = qat.kernel(quantized, name)
        np.testing.assert_array_equal(kernel[zeros[name]], 0.0)
        # the clusters are kept too, per output channel (PCQAT trains a Conv2D's centroids
        # channel by channel, and rebuilds kernels from them with float noise of ~1e-8)
        assert clustering.distinct_values_per_channel(kernel, tolerance=1e-5) <= 8


class _FakeTransformOutput:
    """What export_serving_model reads of a TFTransformOutput: the raw feature spec and a
    transform layer (here preprocessing_fn's own graph: decode, composite, resize)."""

    class _Layer(tf_keras.layers.Layer):
        def call(self, features):
            from modules.preprocessing import preprocessing_fn
            return preprocessing_fn(features, {"image_size": SIZE})

    def raw_feature_spec(self):
        return {"image": tf.io.FixedLenFeature([1], tf.string),
                "label": tf.io.FixedLenFeature([1], tf.int64)}

    def transform_features_layer(self):
        return self._Layer()


def test_a_filter_pruned_qat_model_exports_with_the_transform_signature(eager, tmp_path,
                                                                        image_helpers):
    """export_serving_model (serving_default: tf.Example bytes -> Transform -> model) needs no
    fixed filter counts and takes the QAT wrappers."""
    smaller, _ = structured_pruning.prune_filters(_pruned_model(), {"block4": 0.5, "block5": 0.5})
    quantized = qat.apply_qat(smaller)
    export_dir = str(tmp_path / "serving")
    export.export_serving_model(quantized, _FakeTransformOutput(), export_dir)
    encoded = [image_helpers.encode_image(image_helpers.asymmetric_rgb(SIZE, seed=s))
               for s in (0, 1)]
    examples = [tf.train.Example(features=tf.train.Features(feature={"image": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[e]))})).SerializeToString() for e in encoded]
    loaded = tf.saved_model.load(export_dir)
    served = loaded.signatures["serving_default"](tf.constant(examples))["probability"].numpy()
    images = np.stack([image_helpers.asymmetric_rgb(SIZE, seed=s) for s in (0, 1)]
                      ).astype(np.float32)
    np.testing.assert_allclose(served, quantized(images, training=False).numpy(), atol=1e-5)
    # serving_bytes: the files' bytes as they are, no tf.Example to build
    by_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    np.testing.assert_allclose(by_bytes["probability"].numpy(), served, atol=1e-6)
    assert qat.kernel(smaller, "block5_conv3").shape[-1] == 256

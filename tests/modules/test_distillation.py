"""modules/distillation.py: the pruning fine-tune's soft targets from the dense model.

The Distiller's training step is checked against a plain Keras fit on explicitly mixed targets
(same optimizer step), and in the real pruning fine-tune on the 32x32 VGG16 transfer model.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules import distillation, feature_cache, trainer
from modules.configs import PruningConfig
from modules.data import arrays_dataset
from modules.layer_names import CONV_LAYER_NAMES
from modules.model import build_model
from modules.training import compile_model


def _dense_model(classes, seed):
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((5,))
    x = tf_keras.layers.Dense(8, activation="relu")(inputs)
    outputs = tf_keras.layers.Dense(1 if classes == 2 else classes,
                                    activation="sigmoid" if classes == 2 else "softmax")(x)
    return tf_keras.Model(inputs, outputs)


def test_soft_targets_mix_labels_and_teacher_probabilities():
    teacher = tf.constant([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(
        distillation.soft_targets(tf.constant([1, 0]), teacher, 0.25).numpy(),
        [[0.05, 0.875, 0.075], [0.9, 0.075, 0.025]], rtol=1e-6)
    binary = distillation.soft_targets(tf.constant([[1], [0]]), tf.constant([[0.8], [0.4]]), 0.5)
    np.testing.assert_allclose(binary.numpy(), [[0.9], [0.2]], rtol=1e-6)


@pytest.mark.parametrize("classes", [2, 3])
def test_distiller_step_equals_a_fit_on_the_mixed_targets(classes):
    """One SGD step of the Distiller (weight 0.4, class weights) gives the student the weights a
    plain fit on (0.6 * labels + 0.4 * teacher) with the same sample weights gives."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = (np.arange(6) % classes).astype(np.int64)
    teacher = _dense_model(classes, seed=1)
    student, reference = _dense_model(classes, seed=2), _dense_model(classes, seed=2)
    class_weight = {c: 1.0 + c for c in range(classes)}

    distiller = distillation.Distiller(student, distillation.frozen_copy(teacher), 0.4)
    distiller.compile(optimizer=tf_keras.optimizers.SGD(0.1),
                      loss=(tf_keras.losses.BinaryCrossentropy() if classes == 2
                            else tf_keras.losses.SparseCategoricalCrossentropy()))
    distiller.fit(x, y, batch_size=6, epochs=1, verbose=0, shuffle=False,
                  class_weight=class_weight)

    target = distillation.soft_targets(tf.constant(y), teacher(x), 0.4).numpy()
    reference.compile(optimizer=tf_keras.optimizers.SGD(0.1),
                      loss=(tf_keras.losses.BinaryCrossentropy() if classes == 2
                            else tf_keras.losses.CategoricalCrossentropy()))
    reference.fit(x, target, batch_size=6, epochs=1, verbose=0, shuffle=False,
                  sample_weight=np.array([class_weight[int(c)] for c in y], np.float32))
    for a, b in zip(student.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the teacher is not trained
    for a, b in zip(distiller.teacher.get_weights(), teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_distiller_reports_hard_label_loss_and_validates_on_hard_labels():
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    y = (np.arange(6) % 3).astype(np.int64)
    student = _dense_model(3, seed=2)
    distiller = distillation.Distiller(student, distillation.frozen_copy(student), 1.0)
    compile_model(distiller, 0.0, 3)  # learning rate 0: the student stays as it is
    history = distiller.fit(x, y, validation_data=(x, y), batch_size=6, epochs=1, verbose=0)
    hard = float(tf_keras.losses.SparseCategoricalCrossentropy()(y, student(x)))
    assert history.history["loss"][0] == pytest.approx(hard, rel=1e-5)
    assert history.history["val_loss"][0] == pytest.approx(hard, rel=1e-5)


def test_distillation_weight_outside_0_1_is_refused():
    model = _dense_model(3, seed=0)
    with pytest.raises(ValueError, match="distillation weight"):
        distillation.Distiller(model, distillation.frozen_copy(model), 1.5)


def _data(seed=0):  # 4 images 32x32, one batch: one step per epoch
    rng = np.random.default_rng(seed)
    labels = np.arange(4) % 2
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40, (4, 32, 32, 3)),
                     0, 255).astype(np.float32)
    return arrays_dataset(images, labels.astype(np.int64), batch_size=4, shuffle=False, seed=0)


def _model():
    return build_model(32, 2, weights_path=None, head_units=64, dropout=0.0,
                       base_trainable=False, seed=1)


@pytest.mark.parametrize("cached", [False, True])
def test_pruning_fine_tune_with_distillation_prunes_and_returns_the_plain_model(eager, cached):
    """`trainer.pruning.distillation: 0.5` in the real fine-tune (VGG16 32x32, top block
    retrained, with and without cached features): target sparsity reached, the returned model is
    the stripped student (no wrappers, no teacher), and the weights differ from a fine-tune on
    the labels alone."""
    def run(weight):
        model = _model()
        compile_model(model, 1e-3, 2)
        return trainer.prune_and_fine_tune(
            model, PruningConfig(layers="all", schedule="constant", target_sparsity=0.5,
                                 frequency=1, fine_tune_epochs=2, early_stopping_patience=1,
                                 retrain_blocks=1, score="magnitude", distillation=weight),
            1e-3, 2, _data(), _data(seed=5),
            cached=None if not cached else feature_cache.CacheContext(
                tf.distribute.get_strategy(), examples=4, batch_size=4, seed=0))

    stripped, info = run(0.5)
    labels_only, _ = run(0.0)
    assert info["distillation"] == 0.5 and info["features_cached"] is cached
    assert not any("prune_low_magnitude" in layer.name or layer.name == "distiller"
                   for layer in stripped.layers)
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in
                                                         labels_only.layers]
    for name in CONV_LAYER_NAMES[-3:] + ["head_dense"]:
        assert np.mean(stripped.get_layer(name).kernel.numpy() == 0) == pytest.approx(
            0.5, abs=0.01)
    assert not np.allclose(stripped.get_layer("head_dense").kernel.numpy(),
                           labels_only.get_layer("head_dense").kernel.numpy())

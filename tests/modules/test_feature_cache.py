"""modules/feature_cache.py: phase 1 (head) and phase 2 (top blocks) on features computed once
train their layers exactly as fitting the whole model would, leave the frozen layers alone, and
are refused when it would not be the same training (augmentation, trainable layers below the
cut, features too large for memory)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules import feature_cache
from modules.configs import AugmentationConfig
from modules.data import arrays_dataset
from modules.model import build_model, set_base_trainable
from modules.training import compile_model

N = 12


def _model(num_classes=3, augmentation=None):
    model = build_model(32, num_classes, weights_path=None, head_units=8, dropout=0.0,
                        pooling="avg", augmentation=augmentation, seed=3)
    set_base_trainable(model, False)  # a frozen (random) base, as with ImageNet weights
    return model


def _data(num_classes=3):
    rng = np.random.default_rng(0)
    return (rng.uniform(0, 255, (N, 32, 32, 3)).astype(np.float32),
            np.arange(N) % num_classes)


def test_head_trained_on_cached_features_equals_fitting_the_whole_model():
    x, y = _data()
    full, cached = _model(), _model()
    assert feature_cache.why_not_cached(cached, tf.distribute.get_strategy()) is None
    conv_before = cached.get_layer("block5_conv3").get_weights()[0].copy()
    head_before = cached.get_layer("head_dense").get_weights()[0].copy()
    # full batch, no dropout: the two fits see the same gradient steps whatever the shuffling
    compile_model(full, 1e-2, 3)
    full.fit(arrays_dataset(x, y, N, False, 0), epochs=3, verbose=0)
    history = feature_cache.fit_on_features(
        cached, arrays_dataset(x, y, 5, True, 0), arrays_dataset(x, y, 5, False, 0), epochs=3,
        learning_rate=1e-2, num_classes=3, batch_size=N, seed=0)
    # float32 sums in another order (oneDNN's kernels differ by CPU: 2e-5 seen on an AMD EPYC);
    # training moves the head by more than 1e-3 (below)
    for name in ("head_dense", "predictions"):
        for a, b in zip(full.get_layer(name).get_weights(), cached.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(cached.get_layer("block5_conv3").get_weights()[0], conv_before)
    assert np.abs(cached.get_layer("head_dense").get_weights()[0] - head_before).max() > 1e-3
    assert len(history.epoch) == 3 and {"loss", "accuracy", "val_loss"} <= set(history.history)
    # the full model predicts with the head it was given
    np.testing.assert_allclose(full.predict(x, verbose=0), cached.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_phase2_step_on_cached_block_outputs_equals_fitting_the_whole_model():
    """Top block unfrozen: block5 and the head trained on block4_pool's outputs [N, 2, 2, 512]
    get the weights fitting the whole model gives them; blocks 1-4 stay as they were."""
    x, y = _data()
    full, cached = _model(), _model()
    for m in (full, cached):
        set_base_trainable(m, True, top_blocks=1)
    cut = feature_cache.phase2_cut(1)
    assert cut == "block4_pool"
    assert feature_cache.why_not_cached(cached, tf.distribute.get_strategy(), cut=cut,
                                        examples=N) is None
    frozen_before = cached.get_layer("block4_conv3").get_weights()[0].copy()
    compile_model(full, 1e-3, 3)
    full.fit(arrays_dataset(x, y, N, False, 0), epochs=2, verbose=0)
    history = feature_cache.fit_on_features(
        cached, arrays_dataset(x, y, 5, True, 0), arrays_dataset(x, y, 5, False, 0), epochs=2,
        learning_rate=1e-3, num_classes=3, batch_size=N, seed=0, cut=cut)
    assert feature_cache.layers_above(cached, cut)[:2] == ["block5_conv1", "block5_conv2"]
    for name in ("block5_conv1", "block5_conv3", "head_dense", "predictions"):
        for a, b in zip(full.get_layer(name).get_weights(), cached.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(cached.get_layer("block4_conv3").get_weights()[0],
                                  frozen_before)
    assert len(history.epoch) == 2 and "val_loss" in history.history
    np.testing.assert_allclose(full.predict(x, verbose=0), cached.predict(x, verbose=0),
                               rtol=1e-3, atol=1e-5)


def test_phase2_cut_refused_with_trainable_layers_below_it_or_too_many_features(monkeypatch):
    model = _model()
    set_base_trainable(model, True, top_blocks=2)  # block4 trainable: below block4_pool
    reason = feature_cache.why_not_cached(model, tf.distribute.get_strategy(), cut="block4_pool")
    assert "block4_conv1" in reason
    assert feature_cache.why_not_cached(model, tf.distribute.get_strategy(),
                                        cut=feature_cache.phase2_cut(2)) is None
    assert feature_cache.phase2_cut(5) is None
    # block3_pool at 32 px: [4, 4, 256] float32 = 16 KiB per image
    monkeypatch.setattr(feature_cache, "MAX_FEATURE_BYTES", 16 * 1024 * 100)
    assert feature_cache.why_not_cached(model, tf.distribute.get_strategy(), cut="block3_pool",
                                        examples=100) is None
    assert "GiB" in feature_cache.why_not_cached(model, tf.distribute.get_strategy(),
                                                 cut="block3_pool", examples=101)


def test_why_not_at_names_the_missing_context_or_cut_before_asking_the_context():
    model = _model()
    set_base_trainable(model, True, top_blocks=2)
    context = feature_cache.CacheContext(tf.distribute.get_strategy(), examples=10,
                                         batch_size=4, seed=0)
    assert feature_cache.why_not_at(None, model, "block3_pool", "x") == "not asked"
    assert feature_cache.why_not_at(context, model, None, "all blocks unfrozen") == (
        "all blocks unfrozen")
    assert feature_cache.why_not_at(context, model, "block3_pool", "x") is None
    assert "block4_conv1" in feature_cache.why_not_at(context, model, "block4_pool", "x")


def test_early_stopping_on_the_validation_features():
    x, y = _data(2)
    model = _model(2)
    history = feature_cache.fit_on_features(
        model, arrays_dataset(x, y, 4, True, 0), arrays_dataset(x[::-1], 1 - y, 4, False, 0),
        epochs=30, learning_rate=5e-2, num_classes=2, batch_size=4, seed=0, patience=1)
    # the validation labels are the train labels flipped: its loss rises, training stops early
    assert len(history.epoch) < 30


@pytest.mark.parametrize("make, reason", [
    (lambda: _model(augmentation=AugmentationConfig(enabled=True)), "augmentation"),
    (lambda: build_model(32, 3, weights_path=None, pooling="avg", base_trainable=True),
     "conv layers are trained"),
])
def test_refused_when_it_would_not_be_the_same_training(make, reason):
    assert reason in feature_cache.why_not_cached(make(), tf.distribute.get_strategy())


def test_pooled_features_are_the_pooling_layers_output():
    x, y = _data()
    model = _model()
    features, labels = feature_cache.features_at(model, arrays_dataset(x, y, 5, False, 0))
    expected = tf_keras.Model(model.input, model.get_layer("avg_pool").output).predict(x, verbose=0)
    assert features.shape == (N, 512)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(labels, y)


def test_cached_features_are_computed_once_per_content_and_base():
    x, _ = _data()
    model = _model()
    first = feature_cache.cached_pooled_features(model, x, ("base", 32))
    assert feature_cache.cached_pooled_features(model, x.copy(), ("base", 32)) is first
    other = x.copy()
    other[0, 0, 0, 0] += 1.0  # other images: computed afresh
    assert feature_cache.cached_pooled_features(model, other, ("base", 32)) is not first
    assert feature_cache.cached_pooled_features(model, x, ("other base", 32)) is not first
    np.testing.assert_allclose(first, feature_cache.features_at(
        model, arrays_dataset(x, np.zeros(N), 5, False, 0))[0], rtol=1e-5, atol=1e-4)


def test_tuner_trials_with_a_frozen_imagenet_base_share_cached_features(imagenet_weights_path):
    """A Tuner trial (frozen ImageNet base, no augmentation) trains its head on features computed
    once for all trials: the second trial computes none, and a trial's score does not depend on
    whether the features were cached before it (search order)."""
    from modules import tuning
    from modules.configs import ModelConfig, RunConfig, TrainerConfig, TunerConfig
    rng = np.random.default_rng(1)
    y = np.arange(24) % 2
    x = (rng.uniform(0, 100, (24, 32, 32, 3)) + 150 * y[:, None, None, None]).astype(np.float32)
    cfg = RunConfig(seed=3, class_names=["a", "b"], weights_path=imagenet_weights_path,
                    model=ModelConfig(image_size=32, head_units=4, dropout=0.0),
                    trainer=TrainerConfig(augmentation=AugmentationConfig(enabled=False)),
                    tuner=TunerConfig(epochs=2, learning_rate=[1e-3], batch_size=[8]))
    fold = (x[:16], y[:16], x[16:], y[16:])
    feature_cache._CACHE.clear()
    score_first, trained = tuning.train_trial({"learning_rate": 1e-3, "batch_size": 8}, cfg,
                                              fold, 5)
    assert trained == [0, 1] and len(feature_cache._CACHE) == 1  # the cached path ran
    (features,) = feature_cache._CACHE.values()
    assert features.shape == (16, 512)
    score_again, _ = tuning.train_trial({"learning_rate": 1e-3, "batch_size": 8}, cfg, fold, 5)
    assert len(feature_cache._CACHE) == 1  # nothing computed again
    assert next(iter(feature_cache._CACHE.values())) is features
    assert score_again == pytest.approx(score_first)

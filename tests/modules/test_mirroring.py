"""Mirrored copies (`trainer.augmentation.mirrored_copies`): the train split plus its horizontal
mirrors, in the Trainer (phase 1 on cached features included) and the Tuner's trials; validation
untouched."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules import feature_cache, mirroring, trainer, tuning
from modules.configs import (AugmentationConfig, FineTuneConfig, ModelConfig, PruningConfig,
                             RunConfig, TrainerConfig)
from modules.data import arrays_dataset

SIZE = 32


def _arrays(n, seed):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    return rng.uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32), labels


def _rows(images):
    return sorted(map(bytes, np.asarray(images).reshape(len(images), -1)))


def test_mirrored_batches_keep_the_batch_size_and_hold_every_image_and_its_mirror():
    x, y = _arrays(6, 0)
    batches = list(mirroring.mirrored_batches(arrays_dataset(x, y, 4, False, 0), 4, seed=0))
    assert [b[0].shape[0] for b in batches] == [4, 4, 4]  # 12 images in batches of 4, not 8
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    mirrors = x[:, :, ::-1, :]
    assert not np.array_equal(mirrors, x)  # the width axis really is reversed
    assert _rows(images) == _rows(np.concatenate([x, mirrors]))
    for image, label in zip(images, labels):  # each copy keeps its original's label
        index = [i for i in range(6) if np.array_equal(image, x[i])
                 or np.array_equal(image, mirrors[i])]
        assert label == y[index[0]]
    again = np.concatenate([b[0] for b in mirroring.mirrored_batches(
        arrays_dataset(x, y, 4, False, 0), 4, seed=0)])
    paired = np.stack([x, mirrors], 1).reshape(2 * len(x), *x.shape[1:])  # x0, m0, x1, m1...
    assert not np.array_equal(images, paired)  # pairs shuffled apart
    assert _rows(again) == _rows(images)


def test_mirrored_batches_follow_the_input_config():
    """trainer.input.prefetch 0 adds no prefetch (the caller's own input options stand); the
    default prefetches; a [b, 1] label column is repeated row by row as its images are."""
    from modules.configs import InputConfig
    x, y = _arrays(4, 0)
    none = mirroring.mirrored_batches(arrays_dataset(x, y, 4, False, 0), 4, 0,
                                      InputConfig(num_parallel_calls=1, prefetch=0))
    assert "Prefetch" not in type(none).__name__
    assert "Prefetch" in type(mirroring.mirrored_batches(
        arrays_dataset(x, y, 4, False, 0), 4, 0)).__name__
    column = tf.data.Dataset.from_tensor_slices((x, y[:, None])).batch(4)
    images, labels = next(iter(mirroring.mirrored_batches(column, 8, 0, InputConfig(prefetch=0))))
    for image, label in zip(images.numpy(), labels.numpy()):
        (i,) = [i for i in range(4) if np.array_equal(image, x[i])
                or np.array_equal(image, x[i, :, ::-1])]
        assert label.tolist() == [y[i]]


def test_with_mirrored_arrays():
    x, y = _arrays(3, 1)
    mx, my = mirroring.with_mirrored(x, y)
    assert mx.shape == (6, SIZE, SIZE, 3) and list(my) == list(y) * 2
    np.testing.assert_array_equal(mx[3:, :, 0], x[:, :, -1])


HP = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}


def _head_only_config(weights_path, augmentation):
    """Two classes, one epoch of the head: no fine-tune, no pruning."""
    return RunConfig(
        class_names=["a", "b"], weights_path=weights_path,
        model=ModelConfig(image_size=SIZE, head_units=8, dropout=0.0),
        trainer=TrainerConfig(epochs=1, augmentation=augmentation,
                              fine_tune=FineTuneConfig(unfreeze_blocks=0),
                              pruning=PruningConfig(enabled=False)))


@pytest.mark.parametrize("mirrored", [False, True])
def test_the_trainer_fits_the_head_on_the_train_images_and_their_mirrors(
        eager, monkeypatch, imagenet_weights_path, mirrored):
    """Phase 1 on cached ImageNet features: the head sees 2N train features with mirrored
    copies (N without); validation stays the N validation images."""
    seen = []
    real = feature_cache.fit_tail
    monkeypatch.setattr(feature_cache, "fit_tail", lambda model, features, labels, **k: (
        seen.append((len(features), len(k["validation"][0]), labels.tolist())),
        real(model, features, labels, **k))[1])
    cfg = _head_only_config(imagenet_weights_path, AugmentationConfig(
        enabled=False, mirrored_copies=mirrored))
    x, y = _arrays(4, 2)
    xv, yv = _arrays(4, 3)
    _, summary = trainer.train(cfg, HP, arrays_dataset(x, y, 4, False, 0),
                               arrays_dataset(xv, yv, 4, False, 0), y)
    (count, validation, labels) = seen[0]
    assert (count, validation) == ((8, 4) if mirrored else (4, 4))
    assert sorted(labels) == sorted(list(y) * (2 if mirrored else 1))
    assert summary["augmentation"]["mirrored_copies"] is mirrored
    assert summary["phase1"]["features_cached"]


def test_the_uncached_trainer_path_fits_batches_of_the_configured_size(
        eager, monkeypatch, imagenet_weights_path):
    """With random augmentation the features are not cached: `model.fit` gets the mirrored
    dataset itself, in batches of `batch_size` (the size the summary records), 2N images."""
    fitted = []
    real = tf_keras.Model.fit

    def fit(self, x=None, *a, **k):
        if isinstance(x, tf.data.Dataset) and not fitted:
            fitted.extend(int(b[0].shape[0]) for b in x)
        return real(self, x, *a, **k)
    monkeypatch.setattr(tf_keras.Model, "fit", fit)
    cfg = _head_only_config(imagenet_weights_path, AugmentationConfig(
        enabled=True, mirrored_copies=True))
    x, y = _arrays(6, 2)
    _, summary = trainer.train(cfg, HP, arrays_dataset(x, y, 4, False, 0),
                               arrays_dataset(x, y, 4, False, 0), y)
    assert not summary["phase1"]["features_cached"]
    assert fitted == [4, 4, 4]
    assert summary["distribution"]["global_batch_size"] == 4


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_tuner_trial_fits_on_the_mirrored_train_part_and_scores_the_held_out_part_as_is(
        monkeypatch, mirrored):
    """The tuner's folds carry the mirrored train part (built once per search, not per
    trial); a trial fits on it and scores the held-out part as it is."""
    sizes = []
    real = tuning.arrays_dataset
    monkeypatch.setattr(tuning, "arrays_dataset",
                        lambda x, y, *a, **k: sizes.append(len(x)) or real(x, y, *a, **k))
    cfg = RunConfig(seed=7, class_names=["a", "b"], run_eagerly=True,
                    model=ModelConfig(image_size=SIZE, weights="none", head_units=4,
                                      dropout=0.0),
                    trainer=TrainerConfig(augmentation=AugmentationConfig(
                        enabled=False, mirrored_copies=mirrored)))
    cfg = dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, epochs=1))
    x, y = _arrays(8, 4)
    xv, yv = _arrays(6, 5)

    class Search(tuning.ArrayTrialsMixin):
        pass
    search = Search()
    (fold,) = search.folds(x, y, xv, yv, cfg)
    assert search.folds(x, y, xv, yv, cfg) is search.folds(x, y, xv, yv, cfg)  # per search
    assert len(fold[0]) == (16 if mirrored else 8) and len(fold[2]) == 6
    tuning.train_trial({"learning_rate": 0.01, "batch_size": 8}, cfg, fold, 7)
    assert sizes == [16 if mirrored else 8, 6]  # fit on the train part, score the held-out part
    (a, b) = tuning.make_folds(x, y, xv, yv, 2, seed=1, mirrored=mirrored)
    assert len(a[0]) == (8 if mirrored else 4) and len(a[2]) == 4  # k-fold: train part mirrored


def test_the_search_builds_new_folds_for_other_arrays():
    cfg = RunConfig(class_names=["a", "b"], model=ModelConfig(image_size=SIZE, weights="none"))
    x, y = _arrays(8, 4)
    xv, yv = _arrays(6, 5)

    class Search(tuning.ArrayTrialsMixin):
        pass
    search = Search()
    (first,) = search.folds(x, y, xv, yv, cfg)
    x2 = x.copy()
    (second,) = search.folds(x2, y, xv, yv, cfg)
    assert first[0] is x and second[0] is x2

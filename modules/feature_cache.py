"""Phase 1 on cached features: with the VGG16 base frozen and no augmentation, every epoch would
compute the same pooled features again; they are computed once and the head alone is trained on
them (the classic "bottleneck features" recipe). Same head, loss, optimizer, class weights and
early stopping on the validation split as fitting the whole model; about one epoch's forward pass
instead of `epochs` of them.

    pooled features float32 [N, 512] ('avg' pooling; 512 * (H/32)^2 with 'flatten')
      -> head_dense -> head_dropout -> predictions     (fresh copies, weights copied back)
"""
import collections
import hashlib
from typing import Any, Dict, Hashable, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from modules.data import arrays_dataset
from modules.layer_names import CONV_LAYER_NAMES
from modules.model import uses_mixed_precision
from modules.training import compile_model, early_stopping

HEAD_PATH = ("head_dense", "head_dropout", "predictions")
POOLING_LAYERS = ("avg_pool", "flatten")


def why_not_cached(model: tf_keras.Model, strategy: tf.distribute.Strategy) -> Optional[str]:
    """None when phase 1 can train on cached features, else the reason it cannot."""
    names = {layer.name for layer in model.layers}
    if any(name.startswith("aug_") for name in names):
        return "augmentation changes the images every epoch"
    if any(model.get_layer(n).trainable for n in CONV_LAYER_NAMES):
        return "conv layers are trained in phase 1 (no pretrained weights)"
    if uses_mixed_precision(model):
        return "mixed precision"
    if strategy.num_replicas_in_sync != 1 or isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "a distribution strategy with several replicas"
    if not any(n in names for n in POOLING_LAYERS):
        return "no pooling layer"
    return None


def pooling_layer(model: tf_keras.Model) -> tf_keras.layers.Layer:
    names = {layer.name for layer in model.layers}
    return model.get_layer(next(n for n in POOLING_LAYERS if n in names))


def pooled_features(model: tf_keras.Model, dataset) -> Tuple[np.ndarray, np.ndarray]:
    """One pass over `dataset` ((images [B, H, W, 3], labels [B]) batches) through the frozen
    base: (features float32 [N, F], labels [N])."""
    extractor = tf_keras.Model(model.input, pooling_layer(model).output)
    features, labels = [], []
    for x, y in dataset:
        features.append(extractor(x, training=False).numpy())
        labels.append(y.numpy())
    return np.concatenate(features), np.concatenate(labels)


_CACHE: "collections.OrderedDict[Tuple[Any, ...], np.ndarray]" = collections.OrderedDict()
CACHE_ENTRIES = 4


def cached_pooled_features(model: tf_keras.Model, images: np.ndarray, base_key: Hashable
                           ) -> np.ndarray:
    """Pooled features float32 [N, F] of `images` [N, H, W, 3] (in-memory arrays, e.g. the
    Tuner's), computed once per process for the same images and the same frozen base
    (`base_key`: what fixes the base's weights, e.g. the weights file and the image size); the
    images are keyed by their content, so every Tuner trial reuses them."""
    images = np.ascontiguousarray(images)
    key = (base_key, images.shape, str(images.dtype), hashlib.sha1(images.data).hexdigest())
    if key not in _CACHE:
        extractor = tf_keras.Model(model.input, pooling_layer(model).output)
        _CACHE[key] = extractor.predict(images, batch_size=256, verbose=0)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def head_copy(model: tf_keras.Model, feature_dim: int) -> tf_keras.Model:
    """A model of fresh copies of the head layers (same configs and weights) on features."""
    inputs = tf_keras.Input(shape=(feature_dim,), dtype=tf.float32)
    x = inputs
    for name in HEAD_PATH:
        layer = model.get_layer(name)
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
    return tf_keras.Model(inputs, x)


def fit_head(model: tf_keras.Model, features: np.ndarray, labels: np.ndarray, *, epochs: int,
             learning_rate: float, num_classes: int, batch_size: int, seed: int,
             initial_epoch: int = 0, validation: Optional[Tuple[np.ndarray, np.ndarray]] = None,
             class_weight: Optional[Dict[int, float]] = None, patience: int = 0,
             callbacks: Sequence[Any] = (), jit_compile: bool = False,
             run_eagerly: bool = False, verbose: int = 2):
    """Fits a copy of `model`'s head on `features` [N, F] (reshuffled each epoch, `batch_size`
    per step), with early stopping on `validation` (features, labels) when `patience` > 0, then
    copies the head's weights into `model`. Returns the Keras History."""
    head = head_copy(model, int(features.shape[-1]))
    compile_model(head, learning_rate, num_classes, jit_compile=jit_compile)
    head.run_eagerly = run_eagerly
    val = arrays_dataset(*validation, 1024, False, seed) if validation is not None else None
    history = head.fit(arrays_dataset(features, labels, batch_size, True, seed),
                       validation_data=val, initial_epoch=initial_epoch, epochs=epochs,
                       verbose=verbose, class_weight=class_weight,
                       callbacks=[*(early_stopping(patience) if val is not None else []),
                                  *callbacks])
    for name in HEAD_PATH:
        model.get_layer(name).set_weights(head.get_layer(name).get_weights())
    return history


def fit_head_on_features(model: tf_keras.Model, train_ds, eval_ds, *, epochs: int,
                         learning_rate: float, num_classes: int, batch_size: int, seed: int,
                         class_weight: Optional[Dict[int, float]] = None, patience: int = 0,
                         callbacks: Sequence[Any] = (), jit_compile: bool = False):
    """The Trainer's phase 1 for a model `why_not_cached` accepts: `fit_head` on the pooled
    features of `train_ds`, early stopping on those of `eval_ds` (the validation role). Returns
    the Keras History (same metrics as fitting `model`)."""
    x_train, y_train = pooled_features(model, train_ds)
    return fit_head(model, x_train, y_train, epochs=epochs, learning_rate=learning_rate,
                    num_classes=num_classes, batch_size=batch_size, seed=seed,
                    validation=pooled_features(model, eval_ds), class_weight=class_weight,
                    patience=patience, callbacks=callbacks, jit_compile=jit_compile)

"""Phase 1 on cached features: with the VGG16 base frozen and no augmentation, every epoch would
compute the same pooled features again; they are computed once and the head alone is trained on
them (the classic "bottleneck features" recipe). Same head, loss, optimizer, class weights and
early stopping on the validation split as fitting the whole model; about one epoch's forward pass
instead of `epochs` of them.

    pooled features float32 [N, 512] ('avg' pooling; 512 * (H/32)^2 with 'flatten')
      -> head_dense -> head_dropout -> predictions     (fresh copies, weights copied back)
"""
from typing import Any, Dict, Optional, Sequence, Tuple

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


def pooled_features(model: tf_keras.Model, dataset) -> Tuple[np.ndarray, np.ndarray]:
    """One pass over `dataset` ((images [B, H, W, 3], labels [B]) batches) through the frozen
    base: (features float32 [N, F], labels [N])."""
    pool = next(model.get_layer(n) for n in POOLING_LAYERS
                if n in {layer.name for layer in model.layers})
    extractor = tf_keras.Model(model.input, pool.output)
    features, labels = [], []
    for x, y in dataset:
        features.append(extractor(x, training=False).numpy())
        labels.append(y.numpy())
    return np.concatenate(features), np.concatenate(labels)


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


def fit_head_on_features(model: tf_keras.Model, train_ds, eval_ds, *, epochs: int,
                         learning_rate: float, num_classes: int, batch_size: int, seed: int,
                         class_weight: Optional[Dict[int, float]] = None, patience: int = 0,
                         callbacks: Sequence[Any] = (), jit_compile: bool = False):
    """Phase 1 for a model `why_not_cached` accepts: fits a copy of the head on the pooled
    features of `train_ds` (reshuffled each epoch, `batch_size` per step) with early stopping on
    those of `eval_ds` (the validation role), then copies the head's weights into `model`.
    Returns the Keras History (same metrics as fitting `model`)."""
    x_train, y_train = pooled_features(model, train_ds)
    x_val, y_val = pooled_features(model, eval_ds)
    head = head_copy(model, int(x_train.shape[-1]))
    compile_model(head, learning_rate, num_classes, jit_compile=jit_compile)
    history = head.fit(arrays_dataset(x_train, y_train, batch_size, True, seed),
                       validation_data=arrays_dataset(x_val, y_val, 1024, False, seed),
                       epochs=epochs, verbose=2, class_weight=class_weight,
                       callbacks=[*early_stopping(patience), *callbacks])
    for name in HEAD_PATH:
        model.get_layer(name).set_weights(head.get_layer(name).get_weights())
    return history

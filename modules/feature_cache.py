"""Training on cached features: the layers below the trainable ones are frozen and, without
augmentation, compute the same outputs every epoch; those outputs are computed once and only the
layers above them (copies) are trained on them (the classic "bottleneck features" recipe). Same
layers, loss, optimizer, class weights and early stopping on the validation split as fitting the
whole model; one forward pass through the frozen part instead of one per epoch.

    phase 1 (head):        cut 'avg_pool' / 'flatten'
      features float32 [N, 512] ('avg'; 512 * (H/32)^2 with 'flatten')
      -> head_dense -> head_dropout -> predictions
    phase 2 (top k blocks unfrozen, k = 1..4): cut 'block{5-k}_pool'
      features float32 [N, H/2^(5-k), W/2^(5-k), C]
      -> block{6-k}_conv1 .. block5_pool -> pooling -> head
The trained copies' weights are copied back into the model.
"""
import collections
import dataclasses
import hashlib
import math
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from modules.data import arrays_dataset
from modules.model import uses_mixed_precision
from modules.training import compile_model, early_stopping

POOLING_LAYERS = ("avg_pool", "flatten")
# Features of more than this (train split, float32) are not held in memory: the whole model is
# fitted instead (e.g. 224 px 'flatten' features of tens of thousands of images).
MAX_FEATURE_BYTES = 2 * 1024 ** 3


def phase2_cut(unfrozen_blocks: int) -> Optional[str]:
    """The layer whose output phase 2 trains on with the top `unfrozen_blocks` blocks unfrozen
    (1 -> 'block4_pool'); None when all five are (nothing frozen to cache)."""
    return f"block{5 - unfrozen_blocks}_pool" if 1 <= unfrozen_blocks <= 4 else None


@dataclasses.dataclass(frozen=True)
class CacheContext:
    """What a fine-tune needs, besides the model, to train on cached features: the distribution
    strategy (features are cached for one replica only), the train split's size in examples (to
    refuse features over MAX_FEATURE_BYTES), the batch size per replica and the seed of the
    per-epoch shuffle."""
    strategy: tf.distribute.Strategy
    examples: int
    batch_size: int
    seed: int


def why_not_at(cached: Optional[CacheContext], model: tf_keras.Model, cut: Optional[str],
               no_cut: str) -> Optional[str]:
    """Why a fine-tune cut at `cut` does not train on cached features, or None when it does:
    'not asked' without a context, `no_cut` (e.g. 'all blocks unfrozen') when there is no cut
    (nothing frozen to cache), else `why_not_cached` under the context's strategy and size."""
    if cached is None:
        return "not asked"
    if cut is None:
        return no_cut
    return why_not_cached(model, cached.strategy, cut=cut, examples=cached.examples)


def why_not_cached(model: tf_keras.Model, strategy: tf.distribute.Strategy,
                   cut: Optional[str] = None, examples: int = 0) -> Optional[str]:
    """None when the layers above `cut` (default: the pooling layer, phase 1) can train on its
    cached outputs, else the reason they cannot. `examples`: the train split's size, to refuse
    features over MAX_FEATURE_BYTES (0: not checked)."""
    names = [layer.name for layer in model.layers]
    if any(name.startswith("aug_") for name in names):
        return "augmentation changes the images every epoch"
    if not any(n in names for n in POOLING_LAYERS):
        return "no pooling layer"
    cut = cut or pooling_layer(model).name
    if cut not in names:
        return f"no layer {cut!r}"
    trained = [n for n in layers_below(model, cut) if model.get_layer(n).trainable_weights]
    if trained:  # phase 1 without pretrained weights trains the whole base
        return f"conv layers are trained below {cut!r}: {', '.join(trained)}"
    if uses_mixed_precision(model):
        return "mixed precision"
    if strategy.num_replicas_in_sync != 1 or isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "a distribution strategy with several replicas"
    if not _is_chain(model):
        return "not a chain of layers"
    size = examples * 4 * math.prod(model.get_layer(cut).output_shape[1:])
    if size > MAX_FEATURE_BYTES:
        return (f"the features would take {size / 1024 ** 3:.1f} GiB "
                f"(over {MAX_FEATURE_BYTES / 1024 ** 3:.0f})")
    return None


def _is_chain(model: tf_keras.Model) -> bool:
    """Each layer's only input is the previous layer's output (as modules/model.py builds)."""
    for previous, layer in zip(model.layers, model.layers[1:]):
        inbound = [n for n in layer.inbound_nodes if n.inbound_layers]
        if len(inbound) != 1 or inbound[0].inbound_layers is not previous:
            return False
    return True


def pooling_layer(model: tf_keras.Model) -> tf_keras.layers.Layer:
    names = {layer.name for layer in model.layers}
    return model.get_layer(next(n for n in POOLING_LAYERS if n in names))


def feature_extractor(model: tf_keras.Model, cut: Optional[str] = None) -> tf_keras.Model:
    """`model`'s input to the output of `cut` (default: the pooling layer)."""
    return tf_keras.Model(model.input, model.get_layer(cut or pooling_layer(model).name).output)


def features_at(model: tf_keras.Model, dataset, cut: Optional[str] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """One pass over `dataset` ((images [B, H, W, 3], labels [B]) batches) through the frozen
    layers up to `cut` (default: the pooling layer): (features float32 [N, ...], labels [N])."""
    extractor = feature_extractor(model, cut)
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
        _CACHE[key] = feature_extractor(model).predict(images, batch_size=256, verbose=0)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def layers_below(model: tf_keras.Model, cut: str) -> List[str]:
    """Names of the layers from the input up to `cut` (included)."""
    names = [layer.name for layer in model.layers]
    return names[:names.index(cut) + 1]


def layers_above(model: tf_keras.Model, cut: Optional[str] = None) -> List[str]:
    """Names of the layers after `cut` (default: the pooling layer) up to the output."""
    names = [layer.name for layer in model.layers]
    return names[names.index(cut or pooling_layer(model).name) + 1:]


def tail_copy(model: tf_keras.Model, feature_shape: Sequence[int], cut: Optional[str] = None
              ) -> tf_keras.Model:
    """A model of fresh copies (same configs, trainable flags and weights) of the layers above
    `cut` (default: the head), on features of `feature_shape` (without the batch axis)."""
    inputs = tf_keras.Input(shape=tuple(feature_shape), dtype=tf.float32)
    x = inputs
    for name in layers_above(model, cut):
        layer = model.get_layer(name)
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
    return tf_keras.Model(inputs, x)


def fit_tail(model: tf_keras.Model, features: np.ndarray, labels: np.ndarray, *, epochs: int,
             learning_rate: float, num_classes: int, batch_size: int, seed: int,
             initial_epoch: int = 0, validation: Optional[Tuple[np.ndarray, np.ndarray]] = None,
             class_weight: Optional[Dict[int, float]] = None, patience: int = 0,
             callbacks: Sequence[Any] = (), jit_compile: bool = False,
             run_eagerly: bool = False, verbose: int = 2, cut: Optional[str] = None):
    """Fits a copy of `model`'s layers above `cut` (default: the head) on `features` [N, ...]
    (the cut's outputs; reshuffled each epoch, `batch_size` per step), with early stopping on
    `validation` (features, labels) when `patience` > 0, then copies their weights into `model`.
    Returns the Keras History."""
    head = tail_copy(model, features.shape[1:], cut)
    compile_model(head, learning_rate, num_classes, jit_compile=jit_compile)
    head.run_eagerly = run_eagerly
    val = arrays_dataset(*validation, 1024, False, seed) if validation is not None else None
    history = head.fit(arrays_dataset(features, labels, batch_size, True, seed),
                       validation_data=val, initial_epoch=initial_epoch, epochs=epochs,
                       verbose=verbose, class_weight=class_weight,
                       callbacks=[*(early_stopping(patience) if val is not None else []),
                                  *callbacks])
    copies = {layer.name: layer for layer in head.layers}
    for name in layers_above(model, cut):
        model.get_layer(name).set_weights(copies[name].get_weights())
    return history


def fit_on_features(model: tf_keras.Model, train_ds, eval_ds, *, epochs: int,
                         learning_rate: float, num_classes: int, batch_size: int, seed: int,
                         class_weight: Optional[Dict[int, float]] = None, patience: int = 0,
                         callbacks: Sequence[Any] = (), jit_compile: bool = False,
                         cut: Optional[str] = None):
    """Phase 1 (default), or a phase 2 step with `cut` = `phase2_cut(blocks)`, for a model
    `why_not_cached` accepts: `fit_tail` on the cut's outputs for `train_ds`, early stopping on
    those of `eval_ds` (the validation role). Returns the Keras History (same metrics as fitting
    `model`)."""
    x_train, y_train = features_at(model, train_ds, cut)
    return fit_tail(model, x_train, y_train, epochs=epochs, learning_rate=learning_rate,
                    num_classes=num_classes, batch_size=batch_size, seed=seed,
                    validation=features_at(model, eval_ds, cut), class_weight=class_weight,
                    patience=patience, callbacks=callbacks, jit_compile=jit_compile, cut=cut)

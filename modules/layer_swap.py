"""Copies of the flat transfer model with some layers replaced (tfmot's pruning and clustering
wrappers, ScaledDense and back), every other layer kept as the *original* object: the default
clone function of `clone_model` would re-initialise the pretrained and trained weights."""
from typing import Callable, Iterable, List, Optional, Set, Tuple, Union

import numpy as np
import tf_keras

# What a replacement function returns for one layer: None (keep the layer), a new layer (a
# wrapper of the original keeps its weights), or (new layer, weights set once the copy is built).
Replacement = Optional[Union[tf_keras.layers.Layer,
                             Tuple[tf_keras.layers.Layer, List[np.ndarray]]]]


def known_layer_names(model: tf_keras.Model, layer_names: Iterable[str], action: str) -> Set[str]:
    """`layer_names` as a set; ValueError naming the ones `model` does not have."""
    names = set(layer_names)
    missing = names - {layer.name for layer in model.layers}
    if missing:
        raise ValueError(f"cannot {action} unknown layer(s) {sorted(missing)}")
    return names


def swap_layers(model: tf_keras.Model,
                replace: Callable[[tf_keras.layers.Layer], Replacement]) -> tf_keras.Model:
    """A copy of `model` with each layer replaced by what `replace(layer)` returns (see
    `Replacement`); the new layers keep their names, so weights are set by name."""
    weights = {}

    def clone_fn(layer):
        new = replace(layer)
        if new is None:
            return layer
        if isinstance(new, tuple):
            layer_copy, values = new
            weights[layer_copy.name] = values
            return layer_copy
        return new

    copy = tf_keras.models.clone_model(model, clone_function=clone_fn)
    for name, values in weights.items():
        copy.get_layer(name).set_weights(values)
    return copy

"""Structured filter pruning of the flat VGG16 transfer model: whole conv filters removed.

Each conv layer's filters (output channels) are ranked by the L1 norm of their kernel slice
(kernel [3, 3, C_in, C_out] -> norms [C_out]) and the `fraction` with the smallest norms is
removed (Li et al., "Pruning Filters for Efficient ConvNets"). The model is rebuilt physically
smaller, same layer names and graph: a pruned conv layer keeps its other filters' kernels and
biases, the next conv layer loses the matching input channels, and `head_dense` loses the rows
that read the removed channels of `block5_conv3` (avg pooling: one row per channel; flatten:
one per position and channel). Before fine-tuning the rebuilt model computes exactly what the
original computes with the removed filters' outputs set to zero (ReLU(0) = 0 feeds nothing on).
Input, augmentation and `vgg_preprocess` layers are unchanged, so the serving signatures
(modules/export.py: input [B, H, W, 3]) do not depend on filter counts.
"""


from typing import Dict, List, Mapping

import numpy as np
import tf_keras

from modules.layer_names import CONV_LAYER_NAMES, resolve_filter_fractions


def filter_l1_norms(kernel: np.ndarray) -> np.ndarray:
    """L1 norm of each filter: kernel [kh, kw, C_in, C_out] -> [C_out]."""
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def filters_to_keep(kernel: np.ndarray, fraction: float) -> np.ndarray:
    """Sorted indices of the filters kept: all but the floor(fraction * C_out) with the smallest
    L1 norms (ties: the lower index is removed first); at least one is kept."""
    n = kernel.shape[-1]
    n_remove = min(int(np.floor(fraction * n)), n - 1)
    order = np.argsort(filter_l1_norms(kernel), kind="stable")
    return np.sort(order[n_remove:])


def kept_filters(model: tf_keras.Model, fractions: Mapping[str, float]) -> Dict[str, np.ndarray]:
    """{conv layer name: sorted kept filter indices} for every conv layer of `model`;
    `fractions` as `trainer.structured_pruning.fractions` (block or layer names)."""
    per_layer = resolve_filter_fractions(fractions)
    return {name: filters_to_keep(model.get_layer(name).kernel.numpy(), per_layer.get(name, 0.0))
            for name in CONV_LAYER_NAMES}


def _head_rows(model: tf_keras.Model, kept_last: np.ndarray) -> np.ndarray:
    """Rows of `head_dense`'s kernel that read the kept channels of the last conv layer."""
    channels = model.get_layer(CONV_LAYER_NAMES[-1]).filters
    rows = model.get_layer("head_dense").kernel.shape[0]
    positions = rows // channels  # 1 (avg pooling) or (H/32 * W/32) (flatten, channels last)
    return (np.arange(positions)[:, None] * channels + kept_last[None, :]).reshape(-1)


def rebuild(model: tf_keras.Model, keep: Mapping[str, np.ndarray]) -> tf_keras.Model:
    """A copy of `model` whose conv layers have only the `keep` filters ({name: indices}; a
    layer not named keeps all). Same layer names, dtype policies and trainable flags; weights
    sliced from `model`'s (which is left unchanged)."""
    keep = {name: np.asarray(keep.get(name, np.arange(model.get_layer(name).filters)))
            for name in CONV_LAYER_NAMES}

    def clone(layer):
        config = layer.get_config()
        if layer.name in keep:
            config["filters"] = int(len(keep[layer.name]))
        return layer.__class__.from_config(config)

    smaller = tf_keras.models.clone_model(model, clone_function=clone)
    previous = None  # kept channels of the conv layer feeding the current one
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name in keep:
            kernel, bias = weights
            if previous is not None:
                kernel = kernel[:, :, previous, :]
            out = keep[layer.name]
            weights = [kernel[..., out], bias[out]]
            previous = out
        elif layer.name == "head_dense":
            kernel, bias = weights
            weights = [kernel[_head_rows(model, keep[CONV_LAYER_NAMES[-1]])], bias]
        smaller.get_layer(layer.name).set_weights(weights)
    return smaller


def prune_filters(model: tf_keras.Model, fractions: Mapping[str, float]
                  ) -> "tuple[tf_keras.Model, Dict[str, Dict[str, int]]]":
    """(the rebuilt smaller model, {conv layer: {'kept': n, 'total': n}}) for `fractions`."""
    keep = kept_filters(model, fractions)
    counts = {name: {"kept": int(len(idx)), "total": int(model.get_layer(name).filters)}
              for name, idx in keep.items()}
    return rebuild(model, keep), counts


def removed_filters(counts: Mapping[str, Mapping[str, int]]) -> List[str]:
    """The conv layers that lost filters (from `prune_filters`' counts)."""
    return [name for name, c in counts.items() if c["kept"] < c["total"]]

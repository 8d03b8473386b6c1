"""tfmot sparsity-preserving weight clustering of chosen layers of the flat transfer model.

Each chosen layer is wrapped with `cluster_weights(..., preserve_sparsity=True)`: its kernel
takes at most `number_of_clusters` distinct values (k-means++ centroids, fine-tuned), one of them
held at zero so the zeros magnitude pruning made stay zeros. As in modules/pruning.py, the clone
function wraps the *original* layer objects, so trained weights are kept. `strip_clustering`
writes the clustered weights back into plain layers before export. tfmot skips (leaves plain) a
Conv2D with too few weights for the clusters asked, and its k-means++ initialisation fails
(InvalidArgumentError) on a kernel with fewer non-zero weights of one sign than clusters, e.g. a
1-unit output layer after 80 % pruning: such a layer is left plain here (`too_few_weights`).
`clustered_layers` reports what was wrapped.
"""


from typing import Dict, Iterable, Mapping, Union

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from modules.layer_swap import known_layer_names, swap_layers

clustering = tfmot.clustering.keras


def clusters_for(layer: tf_keras.layers.Layer, number_of_clusters: Union[int, Mapping[str, int]]
                 ) -> int:
    """`number_of_clusters` for `layer`: the number itself, or its {'conv', 'dense'} entry."""
    if isinstance(number_of_clusters, Mapping):
        kind = "conv" if isinstance(layer, tf_keras.layers.Conv2D) else "dense"
        return int(number_of_clusters[kind])
    return int(number_of_clusters)


def apply_clustering(model: tf_keras.Model, layer_names: Iterable[str],
                     number_of_clusters: Union[int, Mapping[str, int]]) -> tf_keras.Model:
    """A model whose `layer_names` layers are wrapped for sparsity-preserving clustering."""
    names = known_layer_names(model, layer_names, "cluster")

    def wrap(layer):
        if layer.name in names and not too_few_weights(layer, number_of_clusters):
            return clustering.cluster_weights(
                layer, number_of_clusters=clusters_for(layer, number_of_clusters),
                cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
                preserve_sparsity=True)
        return None

    return swap_layers(model, wrap)


def too_few_weights(layer: tf_keras.layers.Layer,
                    number_of_clusters: Union[int, Mapping[str, int]]) -> bool:
    """True when `layer`'s kernel has fewer positive or fewer negative weights than its clusters:
    sparsity-preserving clustering cannot initialise its centroids."""
    kernel = layer.kernel.numpy()
    n = clusters_for(layer, number_of_clusters)
    return min(int(np.sum(kernel > 0)), int(np.sum(kernel < 0))) < n


def clustered_layers(model: tf_keras.Model) -> Dict[str, int]:
    """{name of a wrapped layer: its number of clusters} of a model from `apply_clustering`."""
    return {layer.layer.name: int(layer.number_of_clusters) for layer in model.layers
            if hasattr(layer, "number_of_clusters") and hasattr(layer, "layer")}


def strip_clustering(model: tf_keras.Model) -> tf_keras.Model:
    """Plain layers holding the clustered weights."""
    return clustering.strip_clustering(model)


def distinct_nonzero_values(model: tf_keras.Model, layer_names: Iterable[str]) -> Dict[str, int]:
    """{layer: number of distinct non-zero kernel values} (<= its clusters once clustered)."""
    return {name: distinct_values(model.get_layer(name).kernel.numpy())
            for name in layer_names}


def distinct_values_per_channel(kernel: np.ndarray, tolerance: float = 0.0) -> int:
    """The most distinct non-zero values in one output channel (kernel [..., C_out]): what
    cluster-preserving QAT keeps for a Conv2D, whose centroids it trains channel by channel."""
    return max(distinct_values(kernel[..., c], tolerance) for c in range(kernel.shape[-1]))


def distinct_values(kernel: np.ndarray, tolerance: float = 0.0) -> int:
    """Distinct non-zero values of `kernel`, values closer than `tolerance` counted once."""
    values = np.unique(kernel[kernel != 0.0])
    return int(np.sum(np.diff(values) > tolerance)) + 1 if values.size else 0


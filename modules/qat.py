"""tfmot quantization-aware training (QAT) that preserves the zeros of magnitude pruning (PQAT)
and, after clustering, the clusters too (PCQAT).

Every layer from `vgg_preprocess` on is wrapped for 8-bit fake quantization (tfmot's default
8-bit registry: per-channel weights, per-tensor activations); `vgg_preprocess` only has its
output quantized (the first conv layer's int8 input), and the augmentation layers before it get
no quantizers (train time only). The wrappers keep the layer names (prefix ''), so the kernels
stay `<layer>/kernel` in the exported SavedModel and the report finds them; `keep_zeros` puts the
pruned zeros back into the float kernels after the fine-tune (the forward pass masks them). The exported model
computes with the fake quantization, so the int8 TFLite variant is what it trained for.
"""


from typing import Dict, Iterable

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve\
    .cluster_preserve_quantize_registry import ClusterPreserveDefault8BitConvWeightsQuantizer
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve\
    .prune_preserve_quantize_registry import PrunePreserveDefault8BitConvWeightsQuantizer
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit\
    .default_8bit_quantize_registry import Default8BitConvQuantizeConfig

from modules import augmentation
from modules.model import VGGPreprocess

quantization = tfmot.quantization.keras
NoOpQuantizeConfig = default_8bit_quantize_configs.NoOpQuantizeConfig
FIRST_QUANTIZED = "vgg_preprocess"


class OutputQuantizeConfig(quantization.QuantizeConfig):
    """Quantizes only a layer's output (8 bits, asymmetric, moving-average range): for layers the
    default registry has no config for, such as `VGGPreprocess`."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [quantization.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

    def get_config(self):
        return {}


class PrunePreserveConvQuantizeConfig(Default8BitConvQuantizeConfig):
    """tfmot's Conv2D config with the zero-preserving weight quantizer.

    The PQAT / PCQAT registries swap a Conv2D config's weight quantizer in memory, but
    `quantize_apply` clones the model through the configs' `get_config`, and the rebuilt config
    has the plain quantizer again (tfmot 0.8: Dense layers keep theirs, Conv2D layers lose it).
    A class that creates the quantizer itself survives the clone."""

    def __init__(self, weight_attrs=("kernel",), activation_attrs=("activation",),
                 quantize_output=False):
        super().__init__(list(weight_attrs), list(activation_attrs), quantize_output)
        self.weight_quantizer = self.make_weight_quantizer()

    def make_weight_quantizer(self):
        return PrunePreserveDefault8BitConvWeightsQuantizer()


class ClusterPreserveConvQuantizeConfig(PrunePreserveConvQuantizeConfig):
    """As PrunePreserveConvQuantizeConfig, with the cluster- and zero-preserving quantizer."""

    def make_weight_quantizer(self):
        return ClusterPreserveDefault8BitConvWeightsQuantizer(preserve_sparsity=True)


def scope():
    """The custom objects a QAT model of the transfer model needs when cloned or loaded."""
    objects = {name: obj for name, obj in vars(augmentation).items()
               if isinstance(obj, type) and issubclass(obj, tf_keras.layers.Layer)}
    return quantization.quantize_scope({**objects, "VGGPreprocess": VGGPreprocess,
                                        "OutputQuantizeConfig": OutputQuantizeConfig,
                                        "NoOpQuantizeConfig": NoOpQuantizeConfig,
                                        "PrunePreserveConvQuantizeConfig":
                                            PrunePreserveConvQuantizeConfig,
                                        "ClusterPreserveConvQuantizeConfig":
                                            ClusterPreserveConvQuantizeConfig})


def scheme(preserve_clusters: bool):
    """PCQAT (clusters and zeros kept) when the model was clustered, else PQAT (zeros kept)."""
    combine = tfmot.experimental.combine
    if preserve_clusters:
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    return combine.Default8BitPrunePreserveQuantizeScheme()


def apply_qat(model: tf_keras.Model, preserve_clusters: bool = False) -> tf_keras.Model:
    """A QAT copy of `model` (weights kept; `model` is unchanged), same layer names."""
    names = [layer.name for layer in model.layers]
    first = names.index(FIRST_QUANTIZED)
    before = set(names[1:first])  # augmentation layers (train time only)

    def annotate(layer):
        if layer.name == FIRST_QUANTIZED:
            return quantization.quantize_annotate_layer(layer, OutputQuantizeConfig())
        if layer.name in before:
            return quantization.quantize_annotate_layer(layer, NoOpQuantizeConfig())
        if type(layer) is tf_keras.layers.Conv2D:
            config = (ClusterPreserveConvQuantizeConfig() if preserve_clusters
                      else PrunePreserveConvQuantizeConfig())
            return quantization.quantize_annotate_layer(layer, config)
        return quantization.quantize_annotate_layer(layer)

    with scope():
        annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        return quantization.quantize_apply(annotated, scheme(preserve_clusters),
                                           quantized_layer_name_prefix="")


def nonzero_masks(model: tf_keras.Model) -> Dict[str, np.ndarray]:
    """{layer: kernel != 0} for every layer with a kernel (QAT wrappers looked through)."""
    return {layer.name: kernel(model, layer.name) != 0.0 for layer in model.layers
            if isinstance(getattr(layer, "layer", layer),
                          (tf_keras.layers.Conv2D, tf_keras.layers.Dense))}


def keep_zeros(quantized: tf_keras.Model, masks: Dict[str, np.ndarray]) -> None:
    """Zeroes the float kernels of a QAT model where `masks` (taken before QAT) are False.

    The prune-preserving quantizers multiply a kernel by the mask of its non-zeros at build time
    in every forward pass but let the gradient move the float variable off zero: zeroing it
    again changes no output, and keeps the exported kernels sparse (the report measures them).
    """
    for name, mask in masks.items():
        variable = kernel_variable(quantized, name)
        variable.assign(variable.numpy() * mask)


def kernel_variable(model: tf_keras.Model, name: str):
    """The float kernel variable of layer `name`, wrapped for QAT or not (a QAT wrapper sets the
    inner layer's `kernel` attribute to the last fake-quantized tensor)."""
    layer = model.get_layer(name)
    if not hasattr(layer, "layer"):
        return layer.kernel
    (variable,) = [w for w in layer.weights if w.name.split(":")[0].endswith("/kernel")]
    return variable


def kernel(model: tf_keras.Model, name: str) -> np.ndarray:
    """The float kernel of layer `name`, wrapped for QAT or not."""
    return kernel_variable(model, name).numpy()


def layer_sparsity(model: tf_keras.Model, layer_names: Iterable[str]) -> Dict[str, float]:
    """Exact-zero fraction of each named layer's float kernel (QAT wrappers looked through)."""
    return {name: float(np.mean(kernel(model, name) == 0.0)) for name in layer_names}

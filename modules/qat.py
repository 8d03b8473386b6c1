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


from typing import Dict, Iterable, Tuple

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


RANGE_KINDS = ("output", "post_activation", "pre_activation")


def calibrate_ranges(quantized: tf_keras.Model, model: tf_keras.Model, images) -> Dict[str, Tuple[
        float, float]]:
    """Sets the activation ranges of `quantized` (from `apply_qat(model)`) to what `model`
    computes on `images` (float32 [N, H, W, 3]); returns {variable prefix: (min, max)}.

    tfmot's moving-average quantizers start every range at [-6, 6] and move it with decay 0.999
    per training step: the raw [0, 255] pixels after `vgg_preprocess` (about [-124, 152]) and
    VGG16's conv outputs (hundreds) are clipped to +-6 for thousands of steps, so a fine-tune of
    a few epochs trains, and exports, a model that predicts one class. Starting from the float
    model's ranges (0 included, as tfmot's own updates do), QAT only refines them. The kernel
    ranges (which every training step resets) are set too, so the QAT model computes what the
    float model does, up to 8-bit rounding, before its first step.
    """
    float_weights = model.get_weights()
    targets = []  # (min variable, max variable, layer name, kind)
    for layer in quantized.layers:
        variables = {w.name.split(":")[0]: w for w in layer.weights}
        for kind in RANGE_KINDS:
            low, high = (variables.get(f"{layer.name}/{kind}_{b}") for b in ("min", "max"))
            if low is not None and high is not None:
                targets.append((low, high, layer.name, kind))
        low, high = (variables.get(f"{layer.name}/kernel_{b}") for b in ("min", "max"))
        if low is not None and high is not None:  # set by each training step; +-6 until then
            targets.append((low, high, layer.name, "kernel"))
        # the QuantizeLayer after the input: its all-values range starts at [0, 0]
        low, high = (variables.get(f"{layer.name}/{layer.name}_{b}") for b in ("min", "max"))
        if low is not None and high is not None:
            targets.append((low, high, layer.name, "input"))
    names = sorted({t[2] for t in targets if t[3] not in ("input", "kernel")})
    # a fresh copy: `model`'s layers may also sit in the graphs of the models it was cloned from
    # (the tfmot wrappers and strip_* reuse layer objects) and in the QAT model's
    model = tf_keras.models.clone_model(model)
    model.set_weights(float_weights)
    probe = tf_keras.Model(model.inputs, {
        **{f"out/{n}": model.get_layer(n).output for n in names},
        **{f"in/{n}": model.get_layer(n).input for n in names}})
    values = probe(np.asarray(images, np.float32), training=False)
    out = {}
    for low, high, name, kind in targets:
        if kind == "pre_activation":  # a Dense layer's input times its kernel, plus its bias
            layer = model.get_layer(name)
            tensor = tf_keras.backend.dot(values[f"in/{name}"], layer.kernel)
            if layer.use_bias:
                tensor = tensor + layer.bias
        elif kind == "kernel":  # symmetric, per output channel when the variable is
            k = np.abs(kernel(quantized, name))
            bound = k.reshape(-1, k.shape[-1]).max(axis=0) if low.shape.rank else k.max()
            low.assign(np.broadcast_to(-bound, low.shape).astype(np.float32))
            high.assign(np.broadcast_to(bound, high.shape).astype(np.float32))
            out[f"{name}/kernel"] = (-float(np.max(bound)), float(np.max(bound)))
            continue
        elif kind == "input":
            tensor = images
        else:
            tensor = values[f"out/{name}"]
        array = np.asarray(tensor)
        lo, hi = min(0.0, float(array.min())), max(0.0, float(array.max()))
        low.assign(np.full(low.shape, lo, np.float32))
        high.assign(np.full(high.shape, hi, np.float32))
        out[f"{name}/{kind}"] = (lo, hi)
    return out


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

"""Activation-aware magnitude pruning of Dense layers (Wanda's score, Sun et al. 2023).

tfmot ranks a kernel's weights by |w|. A Dense layer's input features can differ in scale by
orders of magnitude (VGG16's pooled features at 32x32: RMS 0 to ~70), so a small weight on a
large feature may matter more than a large weight on a small one; Wanda's score |w| * rms(x_in)
ranks by the weight's contribution instead (benchmarks/head_pruning_scores.py: one-shot head
pruning at 50 % costs 1.7 validation points with it, 6.1 with |w|).

tfmot only prunes by magnitude, so the score is obtained by reparametrising: during the pruning
fine-tune a Dense layer with kernel W [in, out] becomes a `ScaledDense` whose kernel variable holds
V = W * s[:, None], with a fixed input scale s = rms(x_in) [in], and which computes
x @ (V / s[:, None]): the same function, and tfmot's |V| = |W| * rms(x_in) is Wanda's score.
(With Adam, a step on V changes the layer's output by about the same amount for every input
feature, whatever its scale.) Inputs that are always zero on the train data (s = 0) get V = 0:
their weights have no effect and are pruned first. After `strip_pruning`, `fold_scales` turns
every ScaledDense back into a plain Dense with kernel V / s (zeros kept), so the exported model
has the usual layers.
"""

from typing import Dict, Iterable

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from modules.layer_swap import swap_layers


class ScaledDense(tf_keras.layers.Dense, tfmot.sparsity.keras.PrunableLayer):
    """Dense whose kernel variable holds V = W * s; computes activation(x @ (V / s) + b).

    input_scale s: float32 [in], fixed (not trained); entries 0 mean "this input is always 0":
    their rows of the effective kernel are 0 whatever V holds.
    """

    def __init__(self, units, input_scale=None, **kwargs):
        super().__init__(units, **kwargs)
        self._input_scale_init = None if input_scale is None else np.asarray(input_scale,
                                                                              np.float32)

    def build(self, input_shape):
        super().build(input_shape)
        init = self._input_scale_init
        if init is None:
            init = np.ones([int(input_shape[-1])], np.float32)
        self.input_scale = self.add_weight(
            name="input_scale", shape=init.shape, trainable=False,
            initializer=tf_keras.initializers.Constant(init))

    def call(self, inputs):
        scale = tf.cast(self.input_scale, self.kernel.dtype)
        inverse = tf.math.divide_no_nan(tf.ones_like(scale), scale)
        outputs = tf.matmul(inputs, self.kernel * inverse[:, None])
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def get_prunable_weights(self):
        return [self.kernel]

    def get_config(self):
        return {**super().get_config(), "input_scale": None}


def input_rms(model: tf_keras.Model, layer_names: Iterable[str], dataset,
              max_batches: int = 20) -> Dict[str, np.ndarray]:
    """RMS of each named layer's input features over up to `max_batches` batches of `dataset`
    ((features, label[, weight]) batches; inference mode, so no augmentation or dropout).
    Returns {layer name: float32 [in]}."""
    names = list(layer_names)
    probe = tf_keras.Model(model.inputs, [model.get_layer(n).input for n in names])
    sums = [None] * len(names)
    count = 0
    for batch in dataset.take(max_batches):
        features = batch[0] if isinstance(batch, (tuple, list)) else batch
        outputs = probe(features, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, out in enumerate(outputs):
            sq = tf.reduce_sum(tf.square(tf.cast(out, tf.float32)), axis=0).numpy()
            sums[i] = sq if sums[i] is None else sums[i] + sq
        count += int(outputs[0].shape[0])
    if count == 0:
        raise ValueError("activation-aware pruning: the train data set is empty")
    return {n: np.sqrt(s / count).astype(np.float32) for n, s in zip(names, sums)}


def dense_layer_names(model: tf_keras.Model, layer_names: Iterable[str]):
    """The plain Dense layers among `layer_names` (the ones this module can rescale)."""
    return [n for n in layer_names if type(model.get_layer(n)) is tf_keras.layers.Dense]


def scale_dense_layers(model: tf_keras.Model, scales: Dict[str, np.ndarray]) -> tf_keras.Model:
    """A copy of `model` whose Dense layers named in `scales` are ScaledDense (V = W * s), same
    function; every other layer is the original object (weights kept)."""
    def scaled(layer):
        if layer.name not in scales:
            return None
        s = scales[layer.name]
        kernel, *rest = layer.get_weights()
        return (ScaledDense(input_scale=s, **layer.get_config()),
                [kernel * s[:, None], *rest, s])

    return swap_layers(model, scaled)


def fold_scales(model: tf_keras.Model) -> tf_keras.Model:
    """A copy of `model` with every ScaledDense replaced by a plain Dense of kernel V / s (0 where
    s = 0); other layers are the original objects."""
    def folded(layer):
        if not isinstance(layer, ScaledDense):
            return None
        kernel, *rest, scale = layer.get_weights()
        inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
        config = {k: v for k, v in layer.get_config().items() if k != "input_scale"}
        return tf_keras.layers.Dense(**config), [kernel * inverse[:, None], *rest]

    return swap_layers(model, folded)

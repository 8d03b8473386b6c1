"""VGG16 transfer model, built flat so tfmot can prune any of its layers.

    image_xf float32 [B, H, W, 3] RGB in [0, 255]
      -> augmentation layers (training only)
      -> VGG16 caffe preprocessing (RGB->BGR, minus ImageNet mean)
      -> 13 conv layers block1_conv1 .. block5_conv3 + 5 max-pools (Keras VGG16 names, no top)
      -> GlobalAveragePooling (pooling 'avg') | Flatten ('flatten')
      -> Dense(head_units, relu) -> Dropout -> Dense(1, sigmoid) | Dense(C, softmax)

Output: P(label == 1), float32 [B, 1] for two classes; class probabilities [B, C] otherwise.
With `dtype_policy` 'mixed_float16' / 'mixed_bfloat16' (`trainer.mixed_precision`) the conv,
pooling, head Dense and Dropout layers compute in 16 bits with float32 weights; augmentation and
the caffe preprocessing (values up to 255) stay float32, and so does the output layer.
`float32_copy` turns such a model into a plain float32 one with the same weights (export).
Keras's own VGG16 would be a nested model, which `prune_low_magnitude` silently skips; the same
layer names make `load_weights(by_name=True)` take Keras's ImageNet weights file unchanged.
"""


from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from modules.augmentation import augmentation_layers
from modules.configs import MIXED_PRECISION_POLICIES, AugmentationConfig, RunConfig
from modules.features import IMAGE_KEY
from modules.layer_names import (CONV_LAYER_NAMES, HEAD_LAYER_NAMES, OUTPUT_LAYER_NAME,  # noqa: F401
                                 VGG16_BLOCKS)

IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
# block1_conv1 bias[0] of the ImageNet weights: proves pretrained weights really loaded.
IMAGENET_BLOCK1_CONV1_BIAS0 = 0.73429835


class VGGPreprocess(tf_keras.layers.Layer):
    """`vgg16.preprocess_input` (caffe mode): RGB [0, 255] -> BGR minus the ImageNet mean.

    The mean is subtracted in RGB order before the channel flip: the same numbers, but TFLite's
    full-int8 converter mis-quantizes a REVERSE_V2 followed by a per-channel SUB (mean error ~30 of
    a 0..255 range, which made int8 disagree with the SavedModel on ~25 % of images), while SUB
    followed by REVERSE_V2 is exact to one quantization step (tests/modules/test_model.py).
    """

    def call(self, inputs):
        rgb_mean = tf.constant(IMAGENET_BGR_MEAN[::-1], dtype=inputs.dtype)
        return tf.reverse(inputs - rgb_mean, axis=[-1])


def conv_block_of(layer_name: str) -> int:
    """'block4_conv2' -> 4."""
    return int(layer_name.split("_")[0][len("block"):])


POOLINGS = ("avg", "flatten")
DTYPE_POLICIES = tuple(MIXED_PRECISION_POLICIES.values())  # float32, mixed_float16, ...


def build_model(image_size: int, num_classes: int = 2, weights_path: Optional[str] = None,
                head_units: int = 128, dropout: float = 0.3, base_trainable: bool = False,
                augmentation: Optional[AugmentationConfig] = None, seed: int = 42,
                pooling: str = "flatten", dtype_policy: str = "float32") -> tf_keras.Model:
    """Builds (not compiles) the transfer model; loads ImageNet conv weights from `weights_path`.

    pooling: 'avg' (GlobalAveragePooling2D: 512 features whatever the image size, as most
    transfer recipes) or 'flatten' (the seed's Flatten: 512 * (image_size / 32)^2 features).
    dtype_policy: 'float32', 'mixed_float16' or 'mixed_bfloat16' for the conv, pooling and head
    layers (the output layer computes in float32 whatever the policy).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
    if dtype_policy not in DTYPE_POLICIES:
        raise ValueError(f"dtype_policy: expected one of {DTYPE_POLICIES}, got {dtype_policy!r}")
    policy = dtype_policy  # the 16-bit layers' policy ('float32': all float32, as before)
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input(shape=(image_size, image_size, 3), name=IMAGE_KEY, dtype=tf.float32)
    x = inputs
    for layer in augmentation_layers(augmentation or AugmentationConfig(enabled=False), seed):
        x = layer(x)
    x = VGGPreprocess(name="vgg_preprocess")(x)
    for block, (n_convs, filters) in enumerate(VGG16_BLOCKS, 1):
        for i in range(1, n_convs + 1):
            x = tf_keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                       name=f"block{block}_conv{i}", dtype=policy)(x)
        x = tf_keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool",
                                         dtype=policy)(x)
    if pooling == "avg":
        x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=policy)(x)
    else:
        x = tf_keras.layers.Flatten(name="flatten", dtype=policy)(x)
    x = tf_keras.layers.Dense(head_units, activation="relu", name="head_dense", dtype=policy)(x)
    x = tf_keras.layers.Dropout(dropout, seed=seed, name="head_dropout", dtype=policy)(x)
    # float32 output whatever the policy: probabilities, the loss and the serving signatures.
    if num_classes == 2:
        outputs = tf_keras.layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER_NAME,
                                        dtype="float32")(x)
    else:
        outputs = tf_keras.layers.Dense(num_classes, activation="softmax", name=OUTPUT_LAYER_NAME,
                                        dtype="float32")(x)
    model = tf_keras.Model(inputs, outputs, name="vgg16_transfer")
    if weights_path:
        load_vgg16_weights(model, weights_path)
    set_base_trainable(model, base_trainable)
    return model


def load_vgg16_weights(model: tf_keras.Model, weights_path: str) -> None:
    """Loads the 13 conv layers from a Keras VGG16 (no top) .h5 file and proves they loaded."""
    model.load_weights(weights_path, by_name=True)
    bias0 = float(model.get_layer("block1_conv1").bias.numpy()[0])
    if not np.isclose(bias0, IMAGENET_BLOCK1_CONV1_BIAS0, atol=1e-6):
        raise ValueError(f"weights file {weights_path}: block1_conv1 bias[0] is {bias0}, expected "
                         f"{IMAGENET_BLOCK1_CONV1_BIAS0} for ImageNet VGG16 weights")


def set_base_trainable(model: tf_keras.Model, trainable: bool, top_blocks: int = 5) -> List[str]:
    """Freezes all conv layers, then unfreezes the top `top_blocks` blocks if `trainable`.

    Returns the names of the trainable conv layers.
    """
    unfrozen = []
    for name in CONV_LAYER_NAMES:
        layer = model.get_layer(name)
        layer.trainable = bool(trainable) and conv_block_of(name) > 5 - top_blocks
        if layer.trainable:
            unfrozen.append(name)
    return unfrozen


def build_model_from_config(config: RunConfig, values, weights_path, seed: int) -> "tf_keras.Model":
    """The transfer model for a Tuner trial or the Trainer: `config` (RunConfig) with the chosen
    hyperparameter `values` (tuned `head_units` / `dropout` win over model.*).

    The base is trainable only without pretrained weights (a frozen random base learns nothing).
    """
    m = config.model
    return build_model(int(m.image_size), config.num_classes, weights_path=weights_path,
                       head_units=int(values.get("head_units", m.head_units)),
                       dropout=float(values.get("dropout", m.dropout)),
                       base_trainable=weights_path is None,
                       augmentation=config.trainer.augmentation, seed=seed, pooling=m.pooling,
                       dtype_policy=dtype_policy_of(config))


def dtype_policy_of(config: RunConfig) -> str:
    """The tf_keras dtype policy for `trainer.mixed_precision`."""
    return MIXED_PRECISION_POLICIES[config.trainer.mixed_precision]


def policy_name(layer: tf_keras.layers.Layer) -> str:
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", "float32")


def uses_mixed_precision(model: tf_keras.Model) -> bool:
    """Whether any layer of `model` computes in 16 bits (its variables are float32 anyway)."""
    return any(policy_name(layer).startswith("mixed_") for layer in model.layers)


def float32_copy(model: tf_keras.Model) -> tf_keras.Model:
    """`model` itself when it is all float32, else a float32 clone with the same weights.

    Mixed-precision training keeps float32 master weights, so the copy loses nothing; it computes
    every layer in float32, as TFLite conversion and CPU serving need (a float16 Conv2D is
    emulated on most CPUs and has no TFLite builtin kernel)."""
    if not uses_mixed_precision(model):
        return model

    def clone(layer):
        if not policy_name(layer).startswith("mixed_"):
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = tf_keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy

"""VGG16 transfer model, built flat so tfmot can prune any of its layers.

    image_xf float32 [B, H, W, 3] RGB in [0, 255]
      -> augmentation layers (training only)
      -> VGG16 caffe preprocessing (RGB->BGR, minus ImageNet mean)
      -> 13 conv layers block1_conv1 .. block5_conv3 + 5 max-pools (Keras VGG16 names, no top)
      -> GlobalAveragePooling (pooling 'avg') | Flatten ('flatten')
      -> Dense(head_units, relu) -> Dropout -> Dense(1, sigmoid) | Dense(C, softmax)

Output: P(label == 1), float32 [B, 1] for two classes; class probabilities [B, C] otherwise.
Keras's own VGG16 would be a nested model, which `prune_low_magnitude` silently skips; the same
layer names make `load_weights(by_name=True)` take Keras's ImageNet weights file unchanged.
"""


from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from modules.augmentation import augmentation_layers
from modules.configs import AugmentationConfig, RunConfig
from modules.features import IMAGE_KEY
from modules.layer_names import CONV_LAYER_NAMES, HEAD_LAYER_NAMES, VGG16_BLOCKS  # noqa: F401

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


def build_model(image_size: int, num_classes: int = 2, weights_path: Optional[str] = None,
                head_units: int = 128, dropout: float = 0.3, base_trainable: bool = False,
                augmentation: Optional[AugmentationConfig] = None, seed: int = 42,
                pooling: str = "flatten") -> tf_keras.Model:
    """Builds (not compiles) the transfer model; loads ImageNet conv weights from `weights_path`.

    pooling: 'avg' (GlobalAveragePooling2D: 512 features whatever the image size, as most
    transfer recipes) or 'flatten' (the seed's Flatten: 512 * (image_size / 32)^2 features).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input(shape=(image_size, image_size, 3), name=IMAGE_KEY, dtype=tf.float32)
    x = inputs
    for layer in augmentation_layers(augmentation or AugmentationConfig(enabled=False), seed):
        x = layer(x)
    x = VGGPreprocess(name="vgg_preprocess")(x)
    for block, (n_convs, filters) in enumerate(VGG16_BLOCKS, 1):
        for i in range(1, n_convs + 1):
            x = tf_keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                       name=f"block{block}_conv{i}")(x)
        x = tf_keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if pooling == "avg":
        x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = tf_keras.layers.Flatten(name="flatten")(x)
    x = tf_keras.layers.Dense(head_units, activation="relu", name="head_dense")(x)
    x = tf_keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    if num_classes == 2:
        outputs = tf_keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    else:
        outputs = tf_keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
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
                       augmentation=config.trainer.augmentation, seed=seed, pooling=m.pooling)

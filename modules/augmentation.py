"""Train-time augmentation as tf_keras layers: the seed's seven `ImageDataGenerator` settings.

Like Keras's own Random* layers (whose `call` defaults to `training=True`), each layer transforms
its input when called with `training=True` *or with `training` left unset (None)* — a bare
`model(x)` augments — and returns its input unchanged only with `training=False`. Keras's `fit`
passes training=True; `evaluate` and `predict` pass training=False; and the product passes
training=False explicitly wherever it runs the model for inference (the `serving_default` and
`serving_image` signatures in modules/export.py, from which the TFLite variants are converted), so
augmentation never runs at serving time. Inputs and outputs: float32 [batch, H, W, 3].

ImageDataGenerator semantics kept: rotation in degrees, shifts and zoom as fractions of the size,
shear as an angle in degrees (so the seed's `shear_range=0.2` is a small 0.2 degree shear),
`fill_mode='nearest'`.
"""


import math
from typing import List, Optional

import tensorflow as tf
import tf_keras
from tf_keras.src.engine.base_layer import BaseRandomLayer

from modules.configs import AugmentationConfig  # noqa: F401  (re-exported for callers)


class RandomShear(BaseRandomLayer):
    """Shears along x by an angle uniform in [-shear_range, shear_range] degrees (not with
    training=False)."""

    def __init__(self, shear_range: float, fill_mode: str = "nearest", seed: Optional[int] = None,
                 **kwargs):
        super().__init__(seed=seed, force_generator=True, **kwargs)
        self.shear_range = float(shear_range)
        self.fill_mode = fill_mode
        self.seed = seed

    def call(self, inputs, training=True):  # Keras Random* convention: None/unset augments too
        if training is None:
            training = True
        if not training or self.shear_range == 0:
            return inputs
        batch = tf.shape(inputs)[0]
        height = tf.cast(tf.shape(inputs)[1], tf.float32)
        limit = math.radians(self.shear_range)
        angle = self._random_generator.random_uniform([batch], -limit, limit)
        shear = tf.tan(angle)
        zeros, ones = tf.zeros_like(shear), tf.ones_like(shear)
        # Output (x, y) samples input (x + shear * (y - h/2), y): a shear about the centre row.
        transforms = tf.stack([ones, shear, -shear * height / 2.0, zeros, ones, zeros,
                               zeros, zeros], axis=1)
        outputs = tf.raw_ops.ImageProjectiveTransformV3(
            images=inputs, transforms=transforms, output_shape=tf.shape(inputs)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode=self.fill_mode.upper())
        outputs.set_shape(inputs.shape)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shear_range": self.shear_range,
                "fill_mode": self.fill_mode, "seed": self.seed}


def augmentation_layers(config: AugmentationConfig, seed: int) -> List[tf_keras.layers.Layer]:
    """The enabled augmentation layers in ImageDataGenerator's order, each with its own seed."""
    if not config.enabled:
        return []
    L = tf_keras.layers
    fill = config.fill_mode
    layers: List[tf_keras.layers.Layer] = []
    if config.rotation_range:
        layers.append(L.RandomRotation(config.rotation_range / 360.0, fill_mode=fill,
                                       seed=seed + 1, name="aug_rotation"))
    if config.width_shift_range or config.height_shift_range:
        layers.append(L.RandomTranslation(config.height_shift_range, config.width_shift_range,
                                          fill_mode=fill, seed=seed + 2, name="aug_shift"))
    if config.shear_range:
        layers.append(RandomShear(config.shear_range, fill_mode=fill, seed=seed + 3,
                                  name="aug_shear"))
    if config.zoom_range:
        layers.append(L.RandomZoom((-config.zoom_range, config.zoom_range), fill_mode=fill,
                                   seed=seed + 4, name="aug_zoom"))
    if config.horizontal_flip:
        layers.append(L.RandomFlip("horizontal", seed=seed + 5, name="aug_flip"))
    return layers

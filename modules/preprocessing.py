"""Transform's `preprocessing_fn`: decode, convert to RGB, resize. No augmentation, no scaling.

Output `image_xf`: float32 [batch, H, W, 3], RGB, values in [0, 255] (H = W = custom_config
`image_size`). The model applies train-time augmentation and VGG16's caffe preprocessing itself, so
the same Transform graph serves training and inference.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from typing import Any, Dict  # noqa: E402

import tensorflow as tf  # noqa: E402

from modules.features import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY  # noqa: E402

DEFAULT_IMAGE_SIZE = 32


def decode_and_resize(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """One encoded PNG/JPEG/GIF/BMP (scalar string) -> float32 [image_size, image_size, 3] in [0, 255].

    Grayscale is repeated to RGB, alpha dropped, 16-bit scaled to 8-bit by `decode_image`.
    """
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), [image_size, image_size],
                            method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    """tf.Transform entry point. inputs['image']: string [batch, 1]; inputs['label']: int64 [batch, 1]."""
    image_size = int((custom_config or {}).get("image_size", DEFAULT_IMAGE_SIZE))
    encoded = tf.reshape(inputs[RAW_IMAGE_KEY], [-1])
    images = tf.map_fn(lambda b: decode_and_resize(b, image_size), encoded,
                       fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))
    outputs = {IMAGE_KEY: images}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = tf.reshape(tf.cast(inputs[LABEL_KEY], tf.int64), [-1])
    return outputs

"""Transform's `preprocessing_fn`: decode, convert to RGB, resize. No augmentation, no scaling.

Output `image_xf`: float32 [batch, H, W, 3], RGB, values in [0, 255] (H = W = `image_size`). The
model applies train-time augmentation and VGG16's caffe preprocessing itself, so the same Transform
graph serves training and inference (the SavedModel's serving_default embeds it).
"""


from typing import Any, Dict, Optional, Sequence

import tensorflow as tf

from modules.configs import PreprocessingConfig, from_dict
from modules.features import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY

WHITE = (255.0, 255.0, 255.0)


def decode_rgb(encoded: tf.Tensor, background: Sequence[float] = WHITE) -> tf.Tensor:
    """One encoded PNG/JPEG/GIF/BMP (scalar string) -> float32 [h, w, 3] RGB in [0, 255].

    JPEG is decoded with libjpeg's accurate integer IDCT (Pillow's, so a Pillow client gets the
    same pixels). Grayscale is repeated to RGB, 16-bit reduced to 8-bit by its high byte
    (v >> 8), palette expanded;
    alpha (RGBA, grayscale + alpha, palette transparency) is composited over `background`:
    rgb * a + background * (1 - a), a = alpha / 255. GIF decodes to RGB: TensorFlow's decoder
    leaves a GIF's transparent pixels black (0, 0, 0); only the first frame of an animation is
    read. A 32-bit BMP's fourth byte is ignored (read as RGB, as Pillow and most viewers read
    it): it is often padding, 0 everywhere, which as alpha would turn the image white.
    """
    is_jpeg = tf.equal(tf.strings.substr(encoded, 0, 3), b"\xff\xd8\xff")
    image = tf.cast(tf.cond(
        is_jpeg,
        # libjpeg's accurate integer IDCT, as Pillow (and most decoders) use: decode_image's
        # default fast IDCT differs by up to ~20 levels on small JPEGs, enough to flip classes
        lambda: tf.io.decode_jpeg(encoded, channels=0, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(encoded, channels=0, dtype=tf.uint8,
                                   expand_animations=False)), tf.float32)
    bg = tf.constant(list(background), tf.float32)
    is_bmp = tf.equal(tf.strings.substr(encoded, 0, 2), b"BM")

    def over_background(rgb, alpha):
        alpha = alpha / 255.0
        return rgb * alpha + bg * (1.0 - alpha)

    def gray():
        return tf.tile(image[..., :1], [1, 1, 3])

    def gray_alpha():
        return over_background(tf.tile(image[..., :1], [1, 1, 3]), image[..., 1:2])

    def rgb():
        return image[..., :3]

    def rgba():
        return tf.cond(is_bmp, lambda: image[..., :3],
                       lambda: over_background(image[..., :3], image[..., 3:4]))

    channels = tf.shape(image)[-1]
    out = tf.switch_case(channels - 1, [gray, gray_alpha, rgb, rgba])
    return tf.ensure_shape(out, [None, None, 3])


def decode_and_resize(encoded: tf.Tensor, image_size: int,
                      background: Sequence[float] = WHITE) -> tf.Tensor:
    """One encoded image -> float32 [image_size, image_size, 3] in [0, 255]: `decode_rgb`, then
    bilinear resize with antialiasing (the aspect ratio is not kept)."""
    image = tf.image.resize(decode_rgb(encoded, background), [image_size, image_size],
                            method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def preprocessing_fn(inputs: Dict[str, tf.Tensor],
                     custom_config: Optional[Dict[str, Any]]) -> Dict[str, tf.Tensor]:
    """tf.Transform entry point (custom_config: a PreprocessingConfig as a dict).
    inputs['image']: string [batch, 1]; inputs['label']: int64 [batch, 1]."""
    config = from_dict(PreprocessingConfig, custom_config or {})
    size = config.image_size
    encoded = tf.reshape(inputs[RAW_IMAGE_KEY], [-1])
    images = tf.map_fn(lambda b: decode_and_resize(b, size, config.background), encoded,
                       fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
    outputs = {IMAGE_KEY: images}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = tf.reshape(tf.cast(inputs[LABEL_KEY], tf.int64), [-1])
    return outputs

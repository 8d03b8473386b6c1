"""Mirrored copies: the train split plus each image's horizontal mirror, as a fixed 2x of the
data rather than a random layer, so that the frozen layers' outputs can still be computed once
(modules/feature_cache.py). Only for classes that stay the same class when mirrored (clothes,
animals, most photographs; not text, digits or left/right signs): `trainer.augmentation.
mirrored_copies`. Training only; validation, test and serving see the images as they are.
"""
from typing import Tuple

import numpy as np
import tensorflow as tf


def mirrored_batches(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each batch (images float32 [B, H, W, C], labels [B]) -> (images and their mirrors
    [2B, H, W, C], labels [2B]): the mirrors follow the originals, width axis reversed."""
    def both(images, labels):
        return (tf.concat([images, tf.reverse(images, axis=[2])], axis=0),
                tf.concat([labels, labels], axis=0))
    return dataset.map(both, num_parallel_calls=tf.data.AUTOTUNE)


def with_mirrored(images: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Arrays [N, H, W, C], [N] -> [2N, H, W, C], [2N]: the originals, then their mirrors."""
    return (np.concatenate([images, images[:, :, ::-1, :]]),
            np.concatenate([labels, labels]))

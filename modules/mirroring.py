"""Mirrored copies: the train split plus each image's horizontal mirror, as a fixed 2x of the
data rather than a random layer, so that the frozen layers' outputs can still be computed once
(modules/feature_cache.py). Only for classes that stay the same class when mirrored (clothes,
animals, most photographs; not text, digits or left/right signs): `trainer.augmentation.
mirrored_copies`. Training only; validation, test and serving see the images as they are.
"""
from typing import Tuple

import numpy as np
import tensorflow as tf


def mirrored_batches(dataset: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches (images float32 [b, H, W, C], labels [b]) -> batches of `batch_size` (the global
    batch the input had, so that `distribution.describe` and the learning rate stay true) drawn
    from every image and its mirror (width axis reversed): 2x the batches per epoch. A mirror
    follows its original, then a shuffle over 2 batches (`seed`) spreads the pairs."""
    def both(image, label):
        return tf.data.Dataset.from_tensor_slices(
            (tf.stack([image, tf.reverse(image, axis=[1])]), tf.stack([label, label])))
    return (dataset.unbatch().flat_map(both)
            .shuffle(2 * batch_size, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size).prefetch(tf.data.AUTOTUNE))


def with_mirrored(images: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Arrays [N, H, W, C], [N] -> [2N, H, W, C], [2N]: the originals, then their mirrors."""
    return (np.concatenate([images, images[:, :, ::-1, :]]),
            np.concatenate([labels, labels]))

"""Mirrored copies: the train split plus each image's horizontal mirror, as a fixed 2x of the
data rather than a random layer, so that the frozen layers' outputs can still be computed once
(modules/feature_cache.py). Only for classes that stay the same class when mirrored (clothes,
animals, most photographs; not text, digits or left/right signs): `trainer.augmentation.
mirrored_copies`. Training only; validation, test and serving see the images as they are.
"""
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from modules.configs import InputConfig


def mirrored_batches(dataset: tf.data.Dataset, batch_size: int, seed: int,
                     input_config: Optional[InputConfig] = None) -> tf.data.Dataset:
    """Batches (images float32 [b, H, W, C], labels [b]) -> batches of `batch_size` (the global
    batch the input had, so that `distribution.describe` and the learning rate stay true) drawn
    from every image and its mirror (width axis reversed): 2x the batches per epoch. A mirror
    follows its original (made a batch at a time, in parallel), then a shuffle over 2 batches
    (`seed`) spreads the pairs; `input_config` (`trainer.input`) sets the parallel calls and the
    prefetch (default AUTOTUNE for both)."""
    cfg = input_config or InputConfig()

    def with_mirrors(images, labels):  # [b, ...] -> [2b, ...]: x0, m0, x1, m1, ...
        both = tf.stack([images, tf.reverse(images, axis=[2])], axis=1)
        return (tf.reshape(both, tf.concat([[-1], tf.shape(images)[1:]], 0)),
                tf.repeat(labels, 2, axis=0))
    dataset = (dataset.map(with_mirrors, num_parallel_calls=cfg.num_parallel_calls).unbatch()
               .shuffle(2 * batch_size, seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size))
    return dataset.prefetch(cfg.prefetch) if cfg.prefetch else dataset


def with_mirrored(images: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Arrays [N, H, W, C], [N] -> [2N, H, W, C], [2N]: the originals, then their mirrors."""
    return (np.concatenate([images, images[:, :, ::-1, :]]),
            np.concatenate([labels, labels]))

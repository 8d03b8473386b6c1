"""The images of the report's augmented-samples plot: the Trainer's augmentation layers, rebuilt
from what it recorded, applied to a few train images (TensorFlow, imported on first use)."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np


def augmentation_layers_of(training: Dict[str, Any], run: Dict[str, Any]) -> List[Any]:
    """The Trainer's augmentation layers: the same builder with the augmentation config and seed
    the Trainer recorded in training_summary.json (else those of the resolved pipeline config).
    Returns a list of tf_keras layers; [] when augmentation is absent or disabled."""
    from modules.augmentation import AugmentationConfig, augmentation_layers
    config = run.get("config", {})
    aug = training.get("augmentation") or config.get("trainer", {}).get("augmentation")
    if not aug:
        return []
    seed = int(training.get("seed", config.get("seed", 42)))
    return augmentation_layers(AugmentationConfig(**aug), seed)


def augment_samples(layers: Sequence[Any], images: np.ndarray, repeats: int = 5
                    ) -> List[np.ndarray]:
    """`repeats` passes of `images` through the augmentation `layers` with training=True.
    Returns `repeats` float32 arrays of the shape of `images` ([N, H, W, 3], pixels ~[0, 255])."""
    import tensorflow as tf
    out = []
    for _ in range(repeats):
        x = tf.constant(images, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        out.append(x.numpy())
    return out

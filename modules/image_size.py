"""One image size for Transform, the Tuner and the Trainer (issue #15): Transform's output fixes it.

The compiled pipeline's `trainer_custom_config` runtime parameter is per run while Transform's
image size is compiled in; reading the size from Transform's output keeps the three in step.
"""
import dataclasses
from typing import Optional

import tensorflow_transform as tft

from modules.configs import RunConfig
from modules.features import IMAGE_KEY


def transform_image_size(tf_transform_output: tft.TFTransformOutput) -> int:
    """The side length Transform resized the images to (its `image_xf` feature: [H, W, 3])."""
    shape = list(tf_transform_output.transformed_feature_spec()[IMAGE_KEY].shape)
    if len(shape) != 3 or shape[0] != shape[1] or not shape[0]:
        raise ValueError(f"Transform output {IMAGE_KEY}: expected a fixed [size, size, 3] shape, "
                         f"got {shape}")
    return int(shape[0])


def with_transform_image_size(config: RunConfig, custom_config: Optional[dict],
                              tf_transform_output: tft.TFTransformOutput) -> RunConfig:
    """`config` (the Tuner's / Trainer's RunConfig, read from `custom_config`) with
    `model.image_size` taken from Transform's output: one image size for Transform, Tuner and
    Trainer. The compiled pipeline's custom_config has no image_size (its `trainer_custom_config`
    runtime parameter must not change it for the Trainer alone); one that has it (local runs, or
    a hand-edited parameter) must agree with Transform: ValueError otherwise."""
    size = transform_image_size(tf_transform_output)
    given = ((custom_config or {}).get("model") or {}).get("image_size")
    if given is not None and int(given) != size:
        raise ValueError(f"custom_config model.image_size={given}, but Transform resized the "
                         f"images to {size}x{size}: the image size is Transform's (model.image_size "
                         f"at compile time), one value for Transform, Tuner and Trainer")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, image_size=size))

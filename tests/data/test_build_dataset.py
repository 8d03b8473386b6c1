"""Tests for data/build_dataset.py and the committed data/fashion_binary dataset."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "data" / "build_dataset.py"
DATASET = REPO_ROOT / "data" / "fashion_binary"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def _load_module():
    spec = importlib.util.spec_from_file_location("build_dataset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bd = _load_module()

needs_debian = pytest.mark.skipif(
    not DEBIAN_DIR.is_dir(),
    reason=f"{DEBIAN_DIR} absent (apt-get install dataset-fashion-mnist to run this test)",
)


def _tiny_build(out: Path, seed: int = 42, train: int = 5, eval_: int = 3) -> dict:
    return bd.build(out, ["shirt", "tshirt_top"], train, eval_, seed=seed, source_dir=DEBIAN_DIR)


# ---------------------------------------------------------------- committed data

def test_committed_dataset_matches_manifest():
    manifest = bd.read_manifest(DATASET)
    on_disk = {
        p.relative_to(DATASET).as_posix()
        for p in DATASET.rglob("*")
        if p.is_file() and p.name != bd.MANIFEST_NAME
    }
    assert on_disk == set(manifest)
    for rel, digest in manifest.items():
        assert hashlib.sha256((DATASET / rel).read_bytes()).hexdigest() == digest, rel
    text = (DATASET / bd.MANIFEST_NAME).read_text()
    assert text == bd.format_manifest(manifest)  # sorted, canonical format


def test_committed_dataset_counts_classes_and_images():
    expected = {"train": ("train", 500), "eval": ("t10k", 150)}
    assert sorted(p.name for p in DATASET.iterdir() if p.is_dir()) == ["eval", "train"]
    for split, (source, count) in expected.items():
        classes = sorted(p.name for p in (DATASET / split).iterdir())
        assert classes == ["shirt", "tshirt_top"]  # label = sorted index: shirt=0, tshirt_top=1
        for cls in classes:
            files = sorted((DATASET / split / cls).iterdir())
            assert len(files) == count, (split, cls)
            for f in files:
                assert re.fullmatch(rf"{source}-\d{{5}}\.png", f.name), f
                with Image.open(f) as im:
                    assert im.format == "PNG" and im.mode == "L" and im.size == (28, 28)


@needs_debian
def test_committed_pixels_trace_back_to_idx_records():
    """Each PNG equals the IDX record named by its file name, with the right label."""
    for split in bd.SPLITS:
        images, labels = bd.load_split(DEBIAN_DIR, split.source)
        for class_dir in sorted((DATASET / split.name).iterdir()):
            label = bd.LABEL_OF[class_dir.name]
            for f in class_dir.iterdir():
                index = int(f.stem.split("-")[1])
                assert labels[index] == label, f
                with Image.open(f) as im:
                    assert np.array_equal(np.asarray(im), images[index]), f


# ---------------------------------------------------------------- determinism

@needs_debian
def test_tiny_build_is_deterministic_and_seed_dependent(tmp_path):
    first = _tiny_build(tmp_path / "a")
    second = _tiny_build(tmp_path / "b")
    assert first == second
    assert (tmp_path / "a" / bd.MANIFEST_NAME).read_bytes() == \
        (tmp_path / "b" / bd.MANIFEST_NAME).read_bytes()
    assert len(first) == 2 * (5 + 3)
    other = _tiny_build(tmp_path / "c", seed=7)
    assert set(other) != set(first)
    for rel in first:  # provenance-tracing file names
        assert re.fullmatch(r"(train/\w+/train|eval/\w+/t10k)-\d{5}\.png", rel)


@needs_debian
def test_class_sample_independent_of_other_classes(tmp_path):
    pair = _tiny_build(tmp_path / "pair")
    trio = bd.build(tmp_path / "trio", ["shirt", "tshirt_top", "bag"], 5, 3, seed=42,
                    source_dir=DEBIAN_DIR)
    assert {k: v for k, v in trio.items() if "/bag/" not in k} == pair


@needs_debian
def test_cli_verify_detects_changes(tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["--out", str(out), "--train-per-class", "4", "--eval-per-class", "2"]
    assert bd.main(args) == 0
    assert bd.main(args + ["--verify"]) == 0
    victim = sorted((out / "train" / "shirt").iterdir())[0]
    victim.write_bytes(b"not a png")
    capsys.readouterr()
    assert bd.main(args + ["--verify"]) == 1
    assert victim.name in capsys.readouterr().err
    # a different seed is not reproducible against this manifest either
    assert bd.main(args + ["--seed", "1", "--verify"]) == 1


@needs_debian
def test_refuses_unrelated_content_unless_forced(tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["--out", str(out), "--train-per-class", "2", "--eval-per-class", "1"]
    assert bd.main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "notes.txt").exists()
    assert bd.main(args + ["--force"]) == 0
    assert not (out / "notes.txt").exists()
    assert bd.main(args) == 0  # a previous build may be replaced without --force
    assert not list(tmp_path.glob(".ds.*"))  # no temp dirs left behind


# ---------------------------------------------------------------- errors / options

def test_missing_source_dir_names_file(tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(bd.SourceNotFoundError) as excinfo:
        bd.build(tmp_path / "out", ["shirt", "tshirt_top"], 2, 1, source_dir=missing)
    message = str(excinfo.value)
    assert str(missing / "train-images-idx3-ubyte.gz") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert not (tmp_path / "out").exists()

    rc = bd.main(["--out", str(tmp_path / "out"), "--source-dir", str(missing)])
    assert rc != 0
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "apt-get install dataset-fashion-mnist" in err


def test_partially_missing_source_names_that_file(tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(bd.SourceNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        bd.check_source(tmp_path)


def test_option_parsing():
    assert bd.parse_classes("shirt,tshirt_top") == ["shirt", "tshirt_top"]
    assert bd.parse_classes("T-shirt/top, Shirt") == ["shirt", "tshirt_top"]
    assert bd.parse_classes("all") == sorted(bd.CLASS_FOLDERS)
    assert len(bd.parse_classes("all")) == 10
    with pytest.raises(bd.BuildError):
        bd.parse_classes("shirt,hat")
    assert bd.parse_count("all", 1000, "--eval-per-class") == 1000
    assert bd.parse_count("150", 1000, "--eval-per-class") == 150
    with pytest.raises(bd.BuildError):
        bd.parse_count("1001", 1000, "--eval-per-class")

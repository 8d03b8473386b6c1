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


#: sha256 of MANIFEST.sha256 before the test split was added (train/ and eval/ only); the
#: train/eval lines of today's manifest must still hash to it.
TRAIN_EVAL_MANIFEST_SHA256 = "0451b9c16061ccd513988bb93826759bc3d780d55b938c52c0418642beab2ad3"


def _tiny_build(out: Path, seed: int = 42, train: int = 5, eval_: int = 3, test: int = 4,
                **kwargs) -> dict:
    return bd.build(out, ["shirt", "tshirt_top"], train, eval_, seed=seed, source_dir=DEBIAN_DIR,
                    test_per_class=test, **kwargs)


def _without_split(manifest: dict, split: str) -> dict:
    return {rel: digest for rel, digest in manifest.items() if not rel.startswith(split + "/")}


def _stems(manifest: dict, split: str, cls: str) -> set:
    prefix = f"{split}/{cls}/"
    return {Path(rel).stem for rel in manifest if rel.startswith(prefix)}


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
    expected = {"train": ("train", 500), "eval": ("t10k", 150), "test": ("t10k", 250)}
    assert sorted(p.name for p in DATASET.iterdir() if p.is_dir()) == ["eval", "test", "train"]
    assert len(bd.read_manifest(DATASET)) == 2 * (500 + 150 + 250) == 1800
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


def test_committed_eval_and_test_are_disjoint():
    """Both come from t10k; test is drawn from the records eval did not take."""
    for cls in ("shirt", "tshirt_top"):
        eval_names = {f.name for f in (DATASET / "eval" / cls).iterdir()}
        test_names = {f.name for f in (DATASET / "test" / cls).iterdir()}
        assert len(eval_names) == 150 and len(test_names) == 250
        assert not eval_names & test_names, cls


def test_committed_train_and_eval_unchanged_by_test_split():
    """The train/eval lines of the manifest are exactly the pre-test manifest (same bytes)."""
    text = (DATASET / bd.MANIFEST_NAME).read_text()
    train_eval = "".join(line for line in text.splitlines(keepends=True)
                         if not line.split("  ", 1)[1].startswith("test/"))
    assert hashlib.sha256(train_eval.encode()).hexdigest() == TRAIN_EVAL_MANIFEST_SHA256


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


@needs_debian
def test_committed_test_split_follows_documented_sampling():
    """test/ = sorted default_rng([42, 2, label]).choice(t10k class records not in eval/)."""
    _, labels = bd.load_split(DEBIAN_DIR, "t10k")
    for cls in ("shirt", "tshirt_top"):
        label = bd.LABEL_OF[cls]
        eval_idx = {int(f.stem.split("-")[1]) for f in (DATASET / "eval" / cls).iterdir()}
        candidates = [i for i in np.flatnonzero(labels == label) if i not in eval_idx]
        assert len(candidates) == 1000 - 150
        expected = sorted(np.random.default_rng([42, 2, label]).choice(
            np.array(candidates), size=250, replace=False).tolist())
        actual = sorted(int(f.stem.split("-")[1]) for f in (DATASET / "test" / cls).iterdir())
        assert actual == expected, cls


@needs_debian
def test_committed_train_eval_rebuild_without_test_split(tmp_path):
    """Building with --test-per-class 0 reproduces the committed train/ and eval/ files."""
    rebuilt = bd.build(tmp_path / "no_test", ["shirt", "tshirt_top"], 500, 150,
                       source_dir=DEBIAN_DIR, test_per_class=0)
    assert not (tmp_path / "no_test" / "test").exists()
    assert rebuilt == _without_split(bd.read_manifest(DATASET), "test")


# ---------------------------------------------------------------- determinism

@needs_debian
def test_tiny_build_is_deterministic_and_seed_dependent(tmp_path):
    first = _tiny_build(tmp_path / "a")
    second = _tiny_build(tmp_path / "b")
    assert first == second
    assert (tmp_path / "a" / bd.MANIFEST_NAME).read_bytes() == \
        (tmp_path / "b" / bd.MANIFEST_NAME).read_bytes()
    assert len(first) == 2 * (5 + 3 + 4)
    for split, n in (("train", 5), ("eval", 3), ("test", 4)):
        for cls in ("shirt", "tshirt_top"):
            assert len(_stems(first, split, cls)) == n, (split, cls)
    other = _tiny_build(tmp_path / "c", seed=7)
    assert set(other) != set(first)
    for split in ("train", "eval", "test"):
        assert _stems(other, split, "shirt") != _stems(first, split, "shirt"), split
    for rel in first:  # provenance-tracing file names
        assert re.fullmatch(r"(train/\w+/train|eval/\w+/t10k|test/\w+/t10k)-\d{5}\.png", rel)


@needs_debian
def test_test_split_disjoint_from_eval_and_leaves_train_eval_alone(tmp_path):
    without = _tiny_build(tmp_path / "none", test=0)
    assert not (tmp_path / "none" / "test").exists()
    assert not any(rel.startswith("test/") for rel in without)
    for test_n in (4, 40):
        built = _tiny_build(tmp_path / f"t{test_n}", test=test_n)
        assert _without_split(built, "test") == without  # train/eval byte-identical
        for cls in ("shirt", "tshirt_top"):
            test_stems = _stems(built, "test", cls)
            assert len(test_stems) == test_n
            assert not test_stems & _stems(built, "eval", cls)
    # more eval images: eval grows, test is still disjoint from it
    big_eval = _tiny_build(tmp_path / "e900", eval_=900, test=100)
    for cls in ("shirt", "tshirt_top"):
        eval_stems, test_stems = _stems(big_eval, "eval", cls), _stems(big_eval, "test", cls)
        assert len(eval_stems) == 900 and len(test_stems) == 100
        assert not eval_stems & test_stems  # 900 + 100: together every t10k record of the class


@needs_debian
def test_test_all_takes_every_remaining_candidate():
    _, labels = bd.load_split(DEBIAN_DIR, "t10k")
    label = bd.LABEL_OF["shirt"]
    eval_picks = bd.sample_indices(labels, label, 150, 42, 1)
    rest = bd.sample_indices(labels, label, 850, 42, 2, exclude=eval_picks)
    assert sorted(set(rest.tolist()) | set(eval_picks.tolist())) == \
        np.flatnonzero(labels == label).tolist()
    with pytest.raises(bd.BuildError, match="left after excluding the eval picks"):
        bd.sample_indices(labels, label, 851, 42, 2, exclude=eval_picks)


@needs_debian
def test_pixels_of_test_files_trace_back_to_t10k(tmp_path):
    built = _tiny_build(tmp_path / "ds", test=6)
    images, labels = bd.load_split(DEBIAN_DIR, "t10k")
    test_files = sorted(rel for rel in built if rel.startswith("test/"))
    assert len(test_files) == 12
    for rel in test_files:
        f = tmp_path / "ds" / rel
        index = int(f.stem.split("-")[1])
        assert re.fullmatch(r"t10k-\d{5}\.png", f.name)
        assert labels[index] == bd.LABEL_OF[f.parent.name], rel
        with Image.open(f) as im:
            assert im.mode == "L" and np.array_equal(np.asarray(im), images[index]), rel


@needs_debian
def test_class_sample_independent_of_other_classes(tmp_path):
    pair = _tiny_build(tmp_path / "pair")
    trio = bd.build(tmp_path / "trio", ["shirt", "tshirt_top", "bag"], 5, 3, seed=42,
                    source_dir=DEBIAN_DIR, test_per_class=4)
    assert {k: v for k, v in trio.items() if "/bag/" not in k} == pair


@needs_debian
def test_cli_verify_detects_changes(tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["--out", str(out), "--train-per-class", "4", "--eval-per-class", "2",
            "--test-per-class", "3"]
    assert bd.main(args) == 0
    assert bd.main(args + ["--verify"]) == 0
    assert len(bd.read_manifest(out)) == 2 * (4 + 2 + 3)
    victim = sorted((out / "train" / "shirt").iterdir())[0]
    victim.write_bytes(b"not a png")
    capsys.readouterr()
    assert bd.main(args + ["--verify"]) == 1
    assert victim.name in capsys.readouterr().err
    # a different seed is not reproducible against this manifest either
    assert bd.main(args + ["--seed", "1", "--verify"]) == 1
    # nor a different test count (the test split is part of the manifest)
    victim.unlink()
    assert bd.main(args + ["--verify"]) == 1
    assert bd.main(args) == 0
    assert bd.main(args[:-2] + ["--test-per-class", "0", "--verify"]) == 1
    assert "--test-per-class" in capsys.readouterr().err


@needs_debian
def test_cli_eval_all_defaults_to_no_test_split(tmp_path, capsys):
    out = tmp_path / "full_eval"
    assert bd.main(["--out", str(out), "--train-per-class", "2", "--eval-per-class", "all"]) == 0
    assert "no test split" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["eval", "train"]
    assert len(bd.read_manifest(out)) == 2 * (2 + 1000)
    rc = bd.main(["--out", str(tmp_path / "x"), "--eval-per-class", "all",
                  "--test-per-class", "5"])
    assert rc == 2
    assert "--test-per-class 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@needs_debian
def test_refuses_unrelated_content_unless_forced(tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["--out", str(out), "--train-per-class", "2", "--eval-per-class", "1",
            "--test-per-class", "1"]
    assert bd.main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "notes.txt").exists()
    assert bd.main(args + ["--force"]) == 0
    assert not (out / "notes.txt").exists()
    assert bd.main(args) == 0  # a previous build may be replaced without --force
    assert not list(tmp_path.glob(".ds.*"))  # no temp dirs left behind


def test_other_options_never_replace_the_embedded_set_without_force(tmp_path, capsys,
                                                                      monkeypatch):
    """`--classes pullover,coat,shirt --mixed-formats` without --out used to rebuild the
    committed data/fashion_binary as a 3-class mixed tree (docs trial, helper-50)."""
    embedded = tmp_path / "fashion_binary"  # stands in for data/fashion_binary: a build
    args = ["--train-per-class", "2", "--eval-per-class", "1", "--test-per-class", "1"]
    assert bd.main(args + ["--out", str(embedded)]) == 0
    manifest = (embedded / bd.MANIFEST_NAME).read_text()
    monkeypatch.setattr(bd, "DEFAULT_OUT", embedded.resolve())
    assert bd.main(args + ["--classes", "coat,shirt", "--mixed-formats"]) == 2
    err = capsys.readouterr().err
    assert "the project's embedded data set" in err and "--out DIR" in err
    assert (embedded / bd.MANIFEST_NAME).read_text() == manifest  # untouched
    assert bd.main(args + ["--classes", "coat,shirt", "--force"]) == 0  # asked for


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


def test_test_count_parsing():
    assert bd.parse_test_count(None, 150) == 250          # the committed default
    assert bd.parse_test_count(None, 1000) == 0           # --eval-per-class all: nothing left
    assert bd.parse_test_count("0", 150) == 0
    assert bd.parse_test_count("0", 1000) == 0
    assert bd.parse_test_count("all", 150) == 850
    assert bd.parse_test_count("850", 150) == 850
    assert bd.parse_test_count("ALL", 999) == 1
    for value, eval_n, message in (("851", 150, "leaves only 850"),
                                   (None, 900, "leaves only 100"),
                                   ("1", 1000, "no t10k images are left"),
                                   ("all", 1000, "no t10k images are left"),
                                   ("-1", 150, "non-negative"),
                                   ("many", 150, "non-negative integer or 'all'")):
        with pytest.raises(bd.BuildError, match=message):
            bd.parse_test_count(value, eval_n)


def test_library_rejects_overlapping_counts(tmp_path):
    with pytest.raises(bd.BuildError, match="exceed the 1000 t10k images"):
        bd.build(tmp_path / "out", ["shirt", "tshirt_top"], 2, 1000, test_per_class=1,
                 source_dir=tmp_path / "nope")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- mixed formats

MIXED_CLASSES = ["coat", "pullover", "shirt"]
MIXED_PER_CLASS = 10


def _form_of(path: Path, im: Image.Image) -> str:
    """Which of bd.MIXED_FORMS a decoded file is (from its format and mode)."""
    if im.format == "JPEG":
        return "jpeg"
    return {"L": "gray", "RGB": "rgb", "RGBA": "rgba", "LA": "la"}[im.mode]


@pytest.fixture(scope="module")
def mixed_builds(tmp_path_factory):
    if not DEBIAN_DIR.is_dir():
        pytest.skip(f"{DEBIAN_DIR} absent (apt-get install dataset-fashion-mnist to run this test)")
    root = tmp_path_factory.mktemp("mixed")
    n = MIXED_PER_CLASS
    builds = [bd.build(root / name, MIXED_CLASSES, n, n, source_dir=DEBIAN_DIR,
                       test_per_class=n, mixed_formats=True) for name in ("a", "b")]
    plain = bd.build(root / "plain", MIXED_CLASSES, n, n, source_dir=DEBIAN_DIR,
                     test_per_class=n)
    return root, builds, plain


def test_mixed_build_is_deterministic(mixed_builds):
    root, (first, second), _ = mixed_builds
    assert first == second
    assert (root / "a" / bd.MANIFEST_NAME).read_bytes() == \
        (root / "b" / bd.MANIFEST_NAME).read_bytes()
    assert len(first) == len(MIXED_CLASSES) * 3 * MIXED_PER_CLASS


def test_mixed_build_selects_the_same_records_as_a_plain_build(mixed_builds):
    _, (mixed, _), plain = mixed_builds
    for split in ("train", "eval", "test"):
        for cls in MIXED_CLASSES:
            assert _stems(mixed, split, cls) == _stems(plain, split, cls), (split, cls)


def test_mixed_build_has_every_form_and_matching_extensions(mixed_builds):
    root, (manifest, _), _ = mixed_builds
    forms, sizes = {}, set()
    for rel, digest in manifest.items():
        path = root / "a" / rel
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, rel  # manifest = file
        assert re.fullmatch(r"(train/\w+/train|(eval|test)/\w+/t10k)-\d{5}\.(png|jpg)", rel)
        with Image.open(path) as im:
            im.load()  # decodes completely
            form = _form_of(path, im)
            sizes.add(im.size)
        assert path.suffix == bd.FORM_EXTENSION[form], rel
        assert path.suffix == (".jpg" if form == "jpeg" else ".png")
        forms.setdefault(form, []).append(rel)
    assert set(forms) == set(bd.MIXED_FORMS) == {"gray", "rgb", "rgba", "la", "jpeg"}
    assert len(sizes) > 10  # sizes vary ...
    assert any(w != h for w, h in sizes)  # ... and so do aspect ratios
    assert (28, 28) in sizes


@needs_debian
def test_mixed_files_trace_back_to_idx_records(mixed_builds):
    root, (manifest, _), _ = mixed_builds
    sources = {name: bd.load_split(DEBIAN_DIR, name) for name in ("train", "t10k")}
    seen_transparent = 0
    for rel in manifest:
        path = root / "a" / rel
        source, index = path.stem.split("-")
        images, labels = sources[source]
        raw = images[int(index)]
        assert labels[int(index)] == bd.LABEL_OF[path.parent.name], rel
        with Image.open(path) as im:
            form = _form_of(path, im)
            assert form == bd.mixed_form(42, source, int(index))[0], rel
            arr = np.asarray(im)
            size = im.size
        if form == "gray":
            assert arr.shape == (28, 28) and np.array_equal(arr, raw), rel
        elif form == "la":
            assert arr.shape == (28, 28, 2), rel
            assert np.array_equal(arr[..., 0], raw) and (arr[..., 1] == 255).all(), rel
        elif form == "rgba":
            w, h = size
            assert 32 <= w <= 96 and 32 <= h <= 96, rel
            alpha = arr[..., 3]
            ys, xs = np.nonzero(alpha)
            top, left = ys.min(), xs.min()
            window = (slice(top, top + 28), slice(left, left + 28))
            assert (alpha[window] == 255).all() and alpha.sum() == 255 * 28 * 28, rel
            for c in range(3):
                assert np.array_equal(arr[window][..., c], raw), rel
            assert (arr[alpha == 0] == 0).all(), rel  # transparent = (0, 0, 0, 0)
            seen_transparent += 1
        else:  # rgb / jpeg: grey replicated, upscaled to odd sizes in 41..159
            w, h = size
            assert w % 2 == 1 and h % 2 == 1 and 41 <= w <= 159 and 41 <= h <= 159, rel
            assert arr.shape == (h, w, 3), rel
            expected = np.asarray(Image.fromarray(raw).resize(size, Image.Resampling.BICUBIC))
            if form == "rgb":
                for c in range(3):
                    assert np.array_equal(arr[..., c], expected), rel
            else:
                gray = arr.astype(np.float32).mean(axis=-1)
                assert np.abs(gray - expected).mean() < 4.0, rel
    assert seen_transparent > 0


def test_mixed_rgba_has_transparent_pixels(mixed_builds):
    root, (manifest, _), _ = mixed_builds
    rgba = 0
    for rel in manifest:
        with Image.open(root / "a" / rel) as im:
            if im.mode == "RGBA":
                alpha = np.asarray(im)[..., 3]
                assert alpha.min() == 0 and alpha.max() == 255, rel
                rgba += 1
    assert rgba > 0


@needs_debian
def test_cli_mixed_formats_verify(tmp_path, capsys):
    out = tmp_path / "mixed"
    args = ["--out", str(out), "--classes", "pullover,coat,shirt", "--train-per-class", "3",
            "--eval-per-class", "2", "--test-per-class", "2", "--mixed-formats"]
    assert bd.main(args) == 0
    assert "mixed formats" in capsys.readouterr().out
    assert bd.main(args + ["--verify"]) == 0
    assert bd.main(args[:-1] + ["--verify"]) == 1  # a plain rebuild is not this manifest

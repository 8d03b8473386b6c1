#!/usr/bin/env python3
"""Build a small, reproducible image-folder dataset from Fashion-MNIST.

The source is Debian's ``dataset-fashion-mnist`` package, which installs the
four upstream IDX files under ``/usr/share/datasets/fashion-mnist``.  The
output layout is the one the pipeline's image-folder ingestion expects::

    <out>/
      MANIFEST.sha256              # "<sha256>  <relative path>", sorted
      train/<class_folder>/train-<index:05d>.png   # from train-*-ubyte.gz  (fit)
      eval/<class_folder>/t10k-<index:05d>.png     # from t10k-*-ubyte.gz   (validation)
      test/<class_folder>/t10k-<index:05d>.png     # from t10k-*-ubyte.gz   (held-out test)

``<index>`` is the 0-based position of the image in its IDX file, so every file
can be traced back to exactly one source record.  Downstream, the label of an
image is the index of its class folder in the *sorted* list of class folders
(for the default pair: ``shirt`` = 0, ``tshirt_top`` = 1).

Sampling is deterministic: for every (split, class) pair the candidate indices
(all records of that class, ascending) are sampled without replacement with
``numpy.random.default_rng([seed, split_code, label])`` (``split_code`` 0 =
train, 1 = eval, 2 = test) and the result is sorted.  Because each (split,
class) has its own generator, the images chosen for one class do not depend on
which other classes are requested.

The test split is drawn from the same upstream ``t10k`` file as eval, but its
candidates are the class's ``t10k`` records that were *not* picked for eval, so
eval and test never overlap.  Consequences:

* train and eval picks do not depend on ``--test-per-class`` (adding the test
  split left the committed ``train/`` and ``eval/`` files byte-identical);
* the test picks do depend on ``--eval-per-class`` (and the seed);
* eval + test per class can be at most 1,000 (the ``t10k`` images per class).
  ``--test-per-class`` defaults to 250, except that with ``--eval-per-class
  all`` (or 1000), which leaves no candidates, it defaults to 0 (no ``test/``
  folder, and exactly the pre-test output).  Asking for test images that are
  not left (``--eval-per-class all --test-per-class 10``, or ``all``, or
  ``--eval-per-class 900`` with the default 250) is an error naming the limit.
  ``--test-per-class all`` takes every remaining candidate (1000 - eval).

By default, files are PNGs written by Pillow in mode ``L`` with no metadata
chunks, so rebuilding with the same numpy/Pillow (see ``requirements/lock.txt``)
gives byte-identical files.  ``--verify`` rebuilds into a temporary directory
and compares against the existing ``MANIFEST.sha256``.

``--mixed-formats`` (off by default; for benchmarks, never for the committed
set) writes the *same selection* of records, but each file in one of five
forms, the way a stranger's image folder looks.  The form and its parameters
come from a per-file generator ``numpy.random.default_rng([seed, 3,
source_code, index])`` (``source_code`` 0 = ``train`` file, 1 = ``t10k`` file),
so a record always gets the same form regardless of the other options; each
form is picked with probability 1/5:

* ``gray``: 8-bit greyscale PNG (mode ``L``), 28x28, as without the option;
* ``rgb``:  PNG, mode ``RGB`` (grey replicated into R=G=B), upscaled (bicubic)
  to a random odd width and, independently, odd height in 41..159 px (so the
  aspect ratio changes);
* ``rgba``: PNG, mode ``RGBA``: a random canvas of 32..96 px per side, fully
  transparent (0, 0, 0, 0), with the 28x28 image pasted opaque (alpha 255,
  R=G=B = pixel) at a random offset;
* ``la``:   PNG, mode ``LA`` (greyscale + alpha), 28x28, alpha 255 everywhere
  (a two-channel PNG; compositing over any background gives the original);
* ``jpeg``: baseline JPEG, RGB (grey replicated), quality 85..95, upscaled
  (bicubic) to a random odd size as for ``rgb``; no EXIF.

File extensions match the format (``.png`` or ``.jpg``, e.g.
``train/coat/train-00123.jpg``); ``MANIFEST.sha256`` lists the sha256 of every
written file, and ``--verify --mixed-formats`` checks a mixed build.  Pixel
provenance: ``gray``/``la`` hold the raw IDX bytes, ``rgba`` holds them
unmodified in its opaque 28x28 window, ``rgb`` equals Pillow's bicubic resize of
the raw record to the file's size, ``jpeg`` is a lossy encoding of that.

Usage (from the repository root)::

    python data/build_dataset.py                      # default shirt vs tshirt_top
    python data/build_dataset.py --verify             # prove it is reproducible
    python data/build_dataset.py --classes all --out /tmp/fmnist10
    python data/build_dataset.py --eval-per-class all --out /tmp/pair_full_eval
    python data/build_dataset.py --classes pullover,coat,shirt --train-per-class 300 \\
        --eval-per-class 100 --test-per-class 300 --mixed-formats --out /tmp/fmnist3_mixed
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
DEFAULT_SOURCE_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Default output directory (repository-relative, independent of the CWD).
DEFAULT_OUT = Path(__file__).resolve().parent / "fashion_binary"

DEFAULT_CLASSES = ("shirt", "tshirt_top")
DEFAULT_TRAIN_PER_CLASS = 500
DEFAULT_EVAL_PER_CLASS = 150
#: Default test images per class (0 instead when eval takes every t10k image).
DEFAULT_TEST_PER_CLASS = 250
DEFAULT_SEED = 42

MANIFEST_NAME = "MANIFEST.sha256"
APT_HINT = "install it with: sudo apt-get install dataset-fashion-mnist"

#: Folder names (snake_case of the upstream class names), indexed by label.
CLASS_FOLDERS: Tuple[str, ...] = (
    "tshirt_top",   # 0 T-shirt/top
    "trouser",      # 1 Trouser
    "pullover",     # 2 Pullover
    "dress",        # 3 Dress
    "coat",         # 4 Coat
    "sandal",       # 5 Sandal
    "shirt",        # 6 Shirt
    "sneaker",      # 7 Sneaker
    "bag",          # 8 Bag
    "ankle_boot",   # 9 Ankle boot
)
LABEL_OF: Dict[str, int] = {name: i for i, name in enumerate(CLASS_FOLDERS)}

#: Extra spellings accepted by ``--classes`` (after normalisation).
_CLASS_ALIASES = {"t_shirt_top": "tshirt_top", "t_shirt": "tshirt_top", "tshirt": "tshirt_top"}


class Split(NamedTuple):
    """One output split and the IDX files it is sampled from."""

    name: str                 # output folder: train / eval / test
    source: str               # IDX file prefix: train / t10k
    code: int                 # mixed into the RNG seed
    available_per_class: int  # images per class in the IDX file
    disjoint_from: Optional[str] = None  # earlier split whose picks are excluded


SPLITS: Tuple[Split, ...] = (
    Split("train", "train", 0, 6000),
    Split("eval", "t10k", 1, 1000),
    Split("test", "t10k", 2, 1000, disjoint_from="eval"),
)
SPLIT_BY_NAME: Dict[str, Split] = {split.name: split for split in SPLITS}

#: ``--mixed-formats``: per-file generator ``default_rng([seed, FORMAT_CODE,
#: SOURCE_CODE[split.source], index])``.
FORMAT_CODE = 3
SOURCE_CODE: Dict[str, int] = {"train": 0, "t10k": 1}
#: The forms ``--mixed-formats`` chooses from (uniformly), with their extensions.
MIXED_FORMS: Tuple[str, ...] = ("gray", "rgb", "rgba", "la", "jpeg")
FORM_EXTENSION: Dict[str, str] = {"gray": ".png", "rgb": ".png", "rgba": ".png", "la": ".png",
                                  "jpeg": ".jpg"}
ODD_SIZE_RANGE = (41, 159)      # rgb / jpeg: odd width and height, inclusive
CANVAS_SIZE_RANGE = (32, 96)    # rgba: canvas width and height, inclusive
JPEG_QUALITY_RANGE = (85, 95)   # jpeg: quality, inclusive

_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dims
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dim


class BuildError(Exception):
    """A user-facing error (bad option, missing source, unsafe output dir)."""


class SourceNotFoundError(BuildError, FileNotFoundError):
    """A Fashion-MNIST IDX file is missing."""


# --------------------------------------------------------------------------
# Source reading
# --------------------------------------------------------------------------

def idx_paths(source_dir: Path, source: str) -> Tuple[Path, Path]:
    """Return ``(images_path, labels_path)`` for IDX prefix ``train``/``t10k``."""
    source_dir = Path(source_dir)
    return (source_dir / f"{source}-images-idx3-ubyte.gz",
            source_dir / f"{source}-labels-idx1-ubyte.gz")


def check_source(source_dir: Path, sources: Iterable[str] = ("train", "t10k")) -> None:
    """Raise :class:`SourceNotFoundError` naming the first missing IDX file."""
    for source in sources:
        for path in idx_paths(source_dir, source):
            if not path.is_file():
                raise SourceNotFoundError(
                    f"Fashion-MNIST source file not found: {path}\n"
                    f"It is provided by the Debian package 'dataset-fashion-mnist'; "
                    f"{APT_HINT} (or pass --source-dir DIR containing the IDX .gz files)."
                )


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes into a numpy array."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4:
        raise BuildError(f"{path}: truncated IDX file")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        raise BuildError(f"{path}: bad IDX magic 0x{magic:08x}, expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    array = np.frombuffer(data, dtype=np.uint8, offset=header)
    if array.size != int(np.prod(shape)):
        raise BuildError(f"{path}: expected {int(np.prod(shape))} bytes of data for shape "
                         f"{shape}, found {array.size}")
    return array.reshape(shape)


def load_split(source_dir: Path, source: str) -> Tuple[np.ndarray, np.ndarray]:
    """Load ``(images[N, 28, 28], labels[N])`` for IDX prefix ``train``/``t10k``.

    Results are cached per process (keyed on path, size and mtime), so repeated
    builds, e.g. in tests, decompress each file only once.  The returned
    arrays are read-only.
    """
    check_source(source_dir, [source])
    stamps = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in idx_paths(source_dir, source))
    return _load_split_cached(stamps)


@functools.lru_cache(maxsize=2)
def _load_split_cached(stamps: Tuple[Tuple[str, int, int], ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Uncached body of :func:`load_split` (``stamps`` = ((path, size, mtime), ...))."""
    images_path, labels_path = (Path(stamp[0]) for stamp in stamps)
    images = read_idx(images_path, _IMAGES_MAGIC)
    labels = read_idx(labels_path, _LABELS_MAGIC)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise BuildError(f"{images_path}: unexpected shape {images.shape} "
                         f"for {labels.shape[0]} labels")
    return images, labels


# --------------------------------------------------------------------------
# Option parsing helpers
# --------------------------------------------------------------------------

def normalise_class_name(name: str) -> str:
    """Map a user spelling (``Shirt``, ``T-shirt/top``, ``6``) to a folder name."""
    raw = name.strip()
    if raw.isdigit() and int(raw) < len(CLASS_FOLDERS):
        return CLASS_FOLDERS[int(raw)]
    key = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")
    key = _CLASS_ALIASES.get(key, key)
    if key not in LABEL_OF:
        raise BuildError(f"unknown class {name!r}; choose from: {', '.join(CLASS_FOLDERS)} "
                         f"(or 'all')")
    return key


def parse_classes(spec: str) -> List[str]:
    """Parse ``--classes`` (comma separated, or ``all``) into sorted folder names."""
    if spec.strip().lower() == "all":
        return sorted(CLASS_FOLDERS)
    names = [normalise_class_name(part) for part in spec.split(",") if part.strip()]
    if len(set(names)) != len(names):
        raise BuildError(f"duplicate class in --classes {spec!r}")
    if len(names) < 2:
        raise BuildError(f"--classes needs at least two classes, got {spec!r}")
    return sorted(names)


def parse_count(value: str, available: int, option: str) -> int:
    """Parse a per-class count: a positive int <= ``available`` or ``all``."""
    if value.strip().lower() == "all":
        return available
    try:
        count = int(value)
    except ValueError:
        raise BuildError(f"{option} must be a positive integer or 'all', got {value!r}") from None
    if not 1 <= count <= available:
        raise BuildError(f"{option} must be between 1 and {available} (or 'all'), got {count}")
    return count


def parse_test_count(value: Optional[str], eval_per_class: int) -> int:
    """Resolve ``--test-per-class`` given the eval count per class.

    Test images come from the ``t10k`` records of a class that eval did not
    take, so at most ``1000 - eval_per_class`` are left.  ``None`` (option not
    given) means the default, 250, or 0 when eval takes every record.  ``all``
    means every remaining record; ``0`` means no test split.  Asking for more
    than is left (including ``all`` when nothing is left) is an error.
    """
    available = SPLIT_BY_NAME["test"].available_per_class
    left = available - eval_per_class
    if value is None:
        if left == 0:
            return 0
        count, spelled = DEFAULT_TEST_PER_CLASS, f"{DEFAULT_TEST_PER_CLASS} (the default)"
    elif value.strip().lower() == "all":
        count, spelled = left, "all"
    else:
        try:
            count = int(value)
        except ValueError:
            raise BuildError(f"--test-per-class must be a non-negative integer or 'all', "
                             f"got {value!r}") from None
        if count < 0:
            raise BuildError(f"--test-per-class must be non-negative, got {count}")
        spelled = str(count)
    if left == 0 and (count > 0 or spelled == "all"):
        raise BuildError(
            f"--test-per-class {spelled}: no t10k images are left for a test split, because "
            f"--eval-per-class {eval_per_class} takes all {available} per class (test images "
            f"are the t10k images eval did not take); use --test-per-class 0, or a smaller "
            f"--eval-per-class")
    if count > left:
        raise BuildError(
            f"--test-per-class {spelled}: test images are the t10k images eval did not take, "
            f"and --eval-per-class {eval_per_class} leaves only {left} of {available} per "
            f"class; pass --test-per-class {left} or less ('all' = {left}), 0 for no test "
            f"split, or a smaller --eval-per-class")
    return count


# --------------------------------------------------------------------------
# Sampling and writing
# --------------------------------------------------------------------------

def sample_indices(labels: np.ndarray, label: int, count: int, seed: int,
                   split_code: int, exclude: Optional[np.ndarray] = None) -> np.ndarray:
    """Pick ``count`` sorted record indices of class ``label`` deterministically.

    The generator is ``numpy.random.default_rng([seed, split_code, label])``;
    candidates are all indices with that label in ascending order, minus the
    indices in ``exclude`` (the test split excludes the eval picks).  If
    ``count`` equals the number of candidates, all of them are returned.
    """
    candidates = np.flatnonzero(labels == label)
    if exclude is not None and len(exclude):
        candidates = candidates[~np.isin(candidates, exclude)]
    if count > candidates.size:
        left = " left after excluding the eval picks" if exclude is not None else ""
        raise BuildError(f"class {CLASS_FOLDERS[label]} has only {candidates.size} images"
                         f"{left}, {count} requested")
    if count == candidates.size:
        return candidates
    rng = np.random.default_rng([seed, split_code, label])
    return np.sort(rng.choice(candidates, size=count, replace=False))


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode a 2-D uint8 array as a deterministic greyscale PNG (no metadata)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    image = Image.frombytes("L", (width, height), pixels.tobytes())
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=9, optimize=False)
    return buf.getvalue()


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _gray_image(pixels: np.ndarray) -> Image.Image:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    return Image.frombytes("L", (width, height), pixels.tobytes())


def _odd_size(rng: np.random.Generator) -> Tuple[int, int]:
    low, high = ODD_SIZE_RANGE
    width, height = (low + 2 * int(v) for v in rng.integers(0, (high - low) // 2 + 1, size=2))
    return width, height


def mixed_form(seed: int, source: str, index: int) -> Tuple[str, np.random.Generator]:
    """The ``--mixed-formats`` form of record ``index`` of IDX file ``source``.

    Returns ``(form, rng)``; ``rng`` is the per-file generator
    ``default_rng([seed, FORMAT_CODE, SOURCE_CODE[source], index])`` after the
    form draw, from which the form's parameters (size, offset, quality) follow.
    """
    rng = np.random.default_rng([seed, FORMAT_CODE, SOURCE_CODE[source], int(index)])
    return MIXED_FORMS[int(rng.integers(len(MIXED_FORMS)))], rng


def encode_mixed(pixels: np.ndarray, seed: int, source: str, index: int) -> Tuple[str, bytes]:
    """Encode a 28x28 record in its ``--mixed-formats`` form: ``(extension, bytes)``.

    See the module docstring for the five forms.  Deterministic for a given
    (seed, source, index) and numpy/Pillow build.
    """
    form, rng = mixed_form(seed, source, index)
    gray = _gray_image(pixels)
    if form == "gray":
        data = encode_png(pixels)
    elif form == "rgb":
        size = _odd_size(rng)
        image = gray.resize(size, Image.Resampling.BICUBIC).convert("RGB")
        data = _encode(image, "PNG", compress_level=9, optimize=False)
    elif form == "rgba":
        low, high = CANVAS_SIZE_RANGE
        width, height = (int(v) for v in rng.integers(low, high + 1, size=2))
        h, w = pixels.shape
        left = int(rng.integers(0, width - w + 1))
        top = int(rng.integers(0, height - h + 1))
        canvas = np.zeros((height, width, 4), np.uint8)   # transparent (0, 0, 0, 0)
        canvas[top:top + h, left:left + w, :3] = np.asarray(pixels, np.uint8)[..., None]
        canvas[top:top + h, left:left + w, 3] = 255
        image = Image.frombytes("RGBA", (width, height), canvas.tobytes())
        data = _encode(image, "PNG", compress_level=9, optimize=False)
    elif form == "la":
        la = np.stack([np.asarray(pixels, np.uint8), np.full(pixels.shape, 255, np.uint8)], -1)
        image = Image.frombytes("LA", (pixels.shape[1], pixels.shape[0]), la.tobytes())
        data = _encode(image, "PNG", compress_level=9, optimize=False)
    elif form == "jpeg":
        size = _odd_size(rng)
        low, high = JPEG_QUALITY_RANGE
        quality = int(rng.integers(low, high + 1))
        image = gray.resize(size, Image.Resampling.BICUBIC).convert("RGB")
        data = _encode(image, "JPEG", quality=quality, optimize=False, progressive=False)
    else:  # pragma: no cover - MIXED_FORMS and this function change together
        raise AssertionError(form)
    return FORM_EXTENSION[form], data


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    return sha256_bytes(Path(path).read_bytes())


def format_manifest(entries: Mapping[str, str]) -> str:
    """Render ``{relative_path: sha256}`` as ``sha256sum``-compatible text."""
    return "".join(f"{entries[rel]}  {rel}\n" for rel in sorted(entries))


def parse_manifest(text: str) -> Dict[str, str]:
    """Parse MANIFEST.sha256 text into ``{relative_path: sha256}``."""
    entries: Dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
        if not match:
            raise BuildError(f"{MANIFEST_NAME}:{lineno}: malformed line {line!r}")
        entries[match.group(2)] = match.group(1)
    return entries


def read_manifest(out: Path) -> Dict[str, str]:
    """Read ``<out>/MANIFEST.sha256``."""
    return parse_manifest((Path(out) / MANIFEST_NAME).read_text(encoding="utf-8"))


def write_dataset(target: Path, classes: Sequence[str], counts: Mapping[str, int],
                  seed: int, source_dir: Path, mixed_formats: bool = False) -> Dict[str, str]:
    """Write all images and the manifest into the (new, empty) directory ``target``.

    ``counts`` maps split name (``train``/``eval``/``test``) to images per
    class; a missing or 0 count writes no folder for that split.  Returns the
    manifest as ``{relative_path: sha256}``.
    """
    entries: Dict[str, str] = {}
    picks: Dict[Tuple[str, str], np.ndarray] = {}   # (split name, folder) -> indices
    for split in SPLITS:
        count = counts.get(split.name, 0)
        images, labels = load_split(source_dir, split.source)
        for folder in classes:
            label = LABEL_OF[folder]
            exclude = None
            if split.disjoint_from is not None:
                exclude = picks.get((split.disjoint_from, folder), np.empty(0, np.int64))
            if count == 0:
                picks[(split.name, folder)] = np.empty(0, np.int64)
                continue
            chosen = sample_indices(labels, label, count, seed, split.code, exclude)
            picks[(split.name, folder)] = chosen
            class_dir = target / split.name / folder
            class_dir.mkdir(parents=True)
            for index in chosen:
                if mixed_formats:
                    ext, data = encode_mixed(images[index], seed, split.source, int(index))
                else:
                    ext, data = ".png", encode_png(images[index])
                name = f"{split.source}-{int(index):05d}{ext}"
                (class_dir / name).write_bytes(data)
                entries[f"{split.name}/{folder}/{name}"] = sha256_bytes(data)
    (target / MANIFEST_NAME).write_text(format_manifest(entries), encoding="utf-8")
    return entries


def existing_files(out: Path) -> List[str]:
    """Relative POSIX paths of all regular files (and symlinks) below ``out``."""
    out = Path(out)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())


def check_replaceable(out: Path) -> None:
    """Refuse to replace ``out`` if it holds anything but a previous build.

    A previous build is a directory whose files are exactly ``MANIFEST.sha256``
    plus (a subset of) the paths listed in it.  Missing, empty directories are
    fine too.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise BuildError(f"--out {out} exists and is not a directory; use --force to replace it")
    files = existing_files(out)
    if not files:
        return
    if MANIFEST_NAME not in files:
        raise BuildError(f"--out {out} is not empty and has no {MANIFEST_NAME} (not a previous "
                         f"build); refusing to replace it without --force")
    try:
        listed = set(read_manifest(out))
    except BuildError as exc:
        raise BuildError(f"--out {out}: {exc}; refusing to replace it without --force") from None
    unrelated = [f for f in files if f != MANIFEST_NAME and f not in listed]
    if unrelated:
        shown = ", ".join(unrelated[:5]) + (" ..." if len(unrelated) > 5 else "")
        raise BuildError(f"--out {out} contains {len(unrelated)} file(s) not in its "
                         f"{MANIFEST_NAME} ({shown}); refusing to replace it without --force")


def _remove(path: Path) -> None:
    """Remove a file, symlink or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _counts(train_per_class: int, eval_per_class: int, test_per_class: int) -> Dict[str, int]:
    """Validate the per-class counts (library entry points) and map them by split."""
    if train_per_class < 1 or eval_per_class < 1:
        raise BuildError("train and eval need at least one image per class")
    if test_per_class < 0:
        raise BuildError(f"--test-per-class must be non-negative, got {test_per_class}")
    t10k = SPLIT_BY_NAME["test"].available_per_class
    if eval_per_class + test_per_class > t10k:
        raise BuildError(f"eval ({eval_per_class}) + test ({test_per_class}) images per class "
                         f"exceed the {t10k} t10k images per class they are both drawn from "
                         f"(disjointly)")
    return {"train": train_per_class, "eval": eval_per_class, "test": test_per_class}


def build(out: Path, classes: Sequence[str], train_per_class: int, eval_per_class: int,
          seed: int = DEFAULT_SEED, source_dir: Path = DEFAULT_SOURCE_DIR,
          force: bool = False, *, test_per_class: int = 0,
          mixed_formats: bool = False) -> Dict[str, str]:
    """Build the dataset into ``out`` atomically and return its manifest.

    The data is written into a hidden sibling temp directory which then
    replaces ``out`` by rename, so ``out`` is never left half-written.
    ``test_per_class`` defaults to 0 here (no test split); the CLI's default
    is 250 (see :func:`parse_test_count`).
    """
    counts = _counts(train_per_class, eval_per_class, test_per_class)
    out = Path(out).absolute()
    if seed < 0:
        raise BuildError(f"--seed must be non-negative, got {seed}")
    check_source(source_dir)
    for precious in (Path(__file__).resolve(), Path(source_dir).resolve()):
        if precious == out.resolve() or out.resolve() in precious.parents:
            raise BuildError(f"--out {out} would replace {precious}; choose another directory")
    if not force:
        check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        entries = write_dataset(tmp, classes, counts, seed, source_dir, mixed_formats)
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700
        if out.exists() or out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old, out)
                raise
            _remove(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entries


def compare_manifests(expected: Mapping[str, str], actual: Mapping[str, str]) -> List[str]:
    """Describe differences between two manifests (empty list if identical)."""
    problems = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            problems.append(f"in {MANIFEST_NAME} but not produced by rebuild: {rel}")
        elif rel not in expected:
            problems.append(f"produced by rebuild but not in {MANIFEST_NAME}: {rel}")
        elif expected[rel] != actual[rel]:
            problems.append(f"rebuilt sha256 differs from {MANIFEST_NAME}: {rel}")
    return problems


def verify(out: Path, classes: Sequence[str], train_per_class: int, eval_per_class: int,
           seed: int = DEFAULT_SEED, source_dir: Path = DEFAULT_SOURCE_DIR, *,
           test_per_class: int = 0, mixed_formats: bool = False) -> List[str]:
    """Rebuild into a temp dir and compare with ``<out>/MANIFEST.sha256``.

    Also checks that the files currently in ``out`` match that manifest.
    Returns a list of human-readable differences (empty means reproducible).
    """
    counts = _counts(train_per_class, eval_per_class, test_per_class)
    out = Path(out)
    if not (out / MANIFEST_NAME).is_file():
        raise BuildError(f"cannot verify: {out / MANIFEST_NAME} does not exist")
    check_source(source_dir)
    committed = read_manifest(out)
    problems: List[str] = []
    on_disk = {f for f in existing_files(out) if f != MANIFEST_NAME}
    for rel in sorted(on_disk - set(committed)):
        problems.append(f"file in {out} not listed in {MANIFEST_NAME}: {rel}")
    for rel in sorted(committed):
        path = out / rel
        if not path.is_file():
            problems.append(f"listed in {MANIFEST_NAME} but missing in {out}: {rel}")
        elif sha256_file(path) != committed[rel]:
            problems.append(f"file in {out} does not match {MANIFEST_NAME}: {rel}")
    with tempfile.TemporaryDirectory(prefix="fashion-verify-") as tmp:
        rebuilt = write_dataset(Path(tmp), classes, counts, seed, source_dir, mixed_formats)
    problems.extend(compare_manifests(committed, rebuilt))
    return problems


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        description="Build a deterministic Fashion-MNIST image-folder dataset "
                    "(<out>/{train,eval,test}/<class>/*.png) from the Debian package "
                    "dataset-fashion-mnist.")
    parser.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                        help="comma-separated class folder names, or 'all' "
                             f"(default: %(default)s; choices: {', '.join(CLASS_FOLDERS)})")
    parser.add_argument("--train-per-class", default=str(DEFAULT_TRAIN_PER_CLASS),
                        help="train images per class, sampled from train-*-ubyte.gz "
                             "(max 6000 or 'all'; default: %(default)s)")
    parser.add_argument("--eval-per-class", default=str(DEFAULT_EVAL_PER_CLASS),
                        help="eval images per class, sampled from t10k-*-ubyte.gz "
                             "(max 1000 or 'all'; default: %(default)s)")
    parser.add_argument("--test-per-class", default=None,
                        help="held-out test images per class, sampled from the t10k images of "
                             "the class that eval did not take (so eval + test <= 1000); 'all' "
                             "= every remaining one, 0 = no test/ folder (default: "
                             f"{DEFAULT_TEST_PER_CLASS}, or 0 when --eval-per-class is all)")
    parser.add_argument("--mixed-formats", action="store_true",
                        help="write each image in one of five forms chosen per file (8-bit "
                             "grey PNG, upscaled RGB PNG, RGBA PNG on a transparent canvas, LA "
                             "PNG, upscaled JPEG); for benchmarks, not the committed set")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="non-negative sampling seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: data/fashion_binary in the repo, "
                             "the embedded data set: only its own options rebuild it there "
                             "without --force)")
    parser.add_argument("--source-dir", type=Path, default=DEFAULT_SOURCE_DIR,
                        help="directory with the Fashion-MNIST IDX .gz files "
                             "(default: %(default)s)")
    parser.add_argument("--verify", action="store_true",
                        help="rebuild into a temp dir and compare with <out>/MANIFEST.sha256 "
                             "instead of writing; exits 1 on any difference")
    parser.add_argument("--force", action="store_true",
                        help="replace --out even if it holds files that are not a previous build")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        classes = parse_classes(args.classes)
        train_n = parse_count(args.train_per_class, SPLITS[0].available_per_class,
                              "--train-per-class")
        eval_n = parse_count(args.eval_per_class, SPLITS[1].available_per_class,
                             "--eval-per-class")
        test_n = parse_test_count(args.test_per_class, eval_n)
        if args.verify:
            problems = verify(args.out, classes, train_n, eval_n, args.seed, args.source_dir,
                              test_per_class=test_n, mixed_formats=args.mixed_formats)
            if problems:
                print(f"VERIFY FAILED for {args.out}: {len(problems)} difference(s)",
                      file=sys.stderr)
                for line in problems[:50]:
                    print(f"  {line}", file=sys.stderr)
                if len(problems) > 50:
                    print(f"  ... and {len(problems) - 50} more", file=sys.stderr)
                print("(if the directory was built with non-default options, pass the same "
                      "--classes/--train-per-class/--eval-per-class/--test-per-class/--seed/"
                      "--mixed-formats)", file=sys.stderr)
                return 1
            n = len(read_manifest(args.out))
            print(f"OK: {args.out} is reproducible ({n} files match {MANIFEST_NAME})")
            return 0
        committed = (tuple(classes), train_n, eval_n, test_n, args.seed, args.mixed_formats) \
            == (DEFAULT_CLASSES, DEFAULT_TRAIN_PER_CLASS, DEFAULT_EVAL_PER_CLASS,
                DEFAULT_TEST_PER_CLASS, DEFAULT_SEED, False)
        if (Path(args.out).resolve() == DEFAULT_OUT and not committed and not args.force
                and (DEFAULT_OUT / MANIFEST_NAME).is_file()):
            raise BuildError(f"--out defaults to the project's embedded data set ({DEFAULT_OUT}), "
                             f"which these options would replace with another one: give "
                             f"--out DIR for your tree (e.g. --out /tmp/garments), or --force "
                             f"to replace the embedded set")
        entries = build(args.out, classes, train_n, eval_n, args.seed, args.source_dir,
                        args.force, test_per_class=test_n, mixed_formats=args.mixed_formats)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest_sha = sha256_file(Path(args.out) / MANIFEST_NAME)
    labels = ", ".join(f"{name}={i}" for i, name in enumerate(classes))
    kind = "files (mixed formats)" if args.mixed_formats else "PNGs"
    print(f"wrote {len(entries)} {kind} to {args.out} "
          f"({train_n} train + {eval_n} eval + {test_n} test per class, seed {args.seed})")
    if test_n == 0 and args.test_per_class is None:
        print(f"note: no test split: --eval-per-class {eval_n} uses every t10k image "
              f"(test images are t10k images eval did not take)")
    print(f"labels (sorted folder index): {labels}")
    print(f"sha256({MANIFEST_NAME}) = {manifest_sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

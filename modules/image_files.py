"""Which files of an image-folder tree are images: decided by the file name's extension, as Keras'
`image_dataset_from_directory` and torchvision's `ImageFolder` decide (no TensorFlow, no I/O).

A file with an image extension is read by ImageExampleGen and quarantined (with the reason) when
its content cannot be decoded; any other file (notes.txt, Thumbs.db, labels.csv, a file without an
extension) is ignored: never read, never counted toward `data.max_quarantine_fraction`, and listed
in the data checks so that nothing is dropped unseen. Hidden files and archive metadata folders
(`is_hidden_name`) are skipped before this rule.
"""
from __future__ import annotations

import os
from typing import Container, Dict, Iterable, List, Tuple

# Formats TensorFlow decodes (PNG, JPEG, GIF, BMP) and formats Pillow may open that TensorFlow
# does not (quarantined with that reason rather than silently ignored: they are meant as images).
IMAGE_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".dib",
    ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga",
    ".jp2", ".heic", ".heif", ".avif",
})

TENSORFLOW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".dib"})
# The formats (by content, as Pillow identifies them) TensorFlow's decode_image reads. MPO is a
# JPEG with further pictures after the first (phones' portrait and depth photos): TensorFlow and
# Pillow both read its first picture, the same pixels.
TENSORFLOW_FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF", "BMP"})
NOT_AN_IMAGE = "content is not an image format Pillow recognises"


def unreadable_classes(files: Dict[str, List[str]], unreadable: Container[str]
                       ) -> List[Tuple[str, str, List[str]]]:
    """(split, class folder, its files) for each class none of whose files in an output split is
    readable: `files` are relative paths per output split (`<...>/<class>/<file>`), `unreadable`
    the ones the run quarantines (or, for `validate`, will). Sorted by split, then class."""
    by_class: Dict[Tuple[str, str], List[str]] = {}
    for split, paths in files.items():
        for p in paths:
            by_class.setdefault((split, os.path.basename(os.path.dirname(p))), []).append(p)
    return [(split, name, rels) for (split, name), rels in sorted(by_class.items())
            if all(p in unreadable for p in rels)]


def bmp_problem(data: bytes, img) -> str:
    """'' for a BMP (`data`, opened as PIL image `img`) TensorFlow decodes to Pillow's pixels;
    else why not: TensorFlow's BMP decoder reads palette images as grey indices and rejects
    1/4/16-bit files. Decodes the image (TensorFlow and Pillow)."""
    import numpy as np
    import tensorflow as tf
    try:
        same = bool((tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
                     == np.asarray(img.convert("RGB"))).all())
    except tf.errors.InvalidArgumentError:
        same = False
    return "" if same else (f"BMP ({img.mode}, {img.size[0]}x{img.size[1]}) is not decoded "
                            f"correctly by TensorFlow (palette or bit depth unsupported)")


def quarantine_allowance(files: int, fraction: float) -> int:
    """How many unreadable files a split of `files` files may lose to the quarantine before the
    run stops: data.max_quarantine_fraction of them, rounded down, but at least one when the
    fraction is above 0 (one bad download in a 44-file validation split is not a broken tree)."""
    allowed = int(fraction * files + 1e-9)
    return max(allowed, 1) if fraction > 0 else 0


def header_problem(img, max_pixels: int) -> str:
    """'' when an opened PIL image (its header read, no pixels) may be decoded; else why
    ImageExampleGen quarantines it without decoding: more than `max_pixels` pixels
    (data.max_image_pixels), or a format TensorFlow does not decode whatever the extension."""
    width, height = img.size
    if width * height > max_pixels:
        return (f"image is {width}x{height} = {width * height} pixels, above "
                f"max_image_pixels={max_pixels}")
    if img.format not in TENSORFLOW_FORMATS:
        return f"format {img.format} is not decodable by TensorFlow (PNG/JPEG/GIF/BMP)"
    return ""


def content_problem(data: bytes, max_pixels: int) -> Tuple[str, Tuple[int, int]]:
    """('', (width, height)) when a file holding `data` is an image the pipeline trains on and
    every client decodes alike; else (why not, (0, 0)): empty, not an image, above
    `max_pixels` (data.max_image_pixels; judged from the header, before decoding), a format
    TensorFlow does not decode, truncated or corrupt (a full Pillow decode), or a BMP
    TensorFlow misreads (`bmp_problem`). One rule for ImageExampleGen's quarantine and
    `predict`'s refusals."""
    import io

    from PIL import Image, UnidentifiedImageError
    if not data:
        return "empty file", (0, 0)
    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            problem = header_problem(img, max_pixels)  # as `validate` judges
            if not problem:
                img.load()  # full decode: catches truncated / corrupt data
                if img.format == "BMP":  # only BMPs TensorFlow decodes to Pillow's pixels
                    problem = bmp_problem(data, img)
    except Exception as e:  # pylint: disable=broad-except
        detail = (NOT_AN_IMAGE if isinstance(e, UnidentifiedImageError)
                  else str(e))  # not a BytesIO repr
        return f"not a decodable image ({type(e).__name__}: {detail})", (0, 0)
    return problem, ((0, 0) if problem else size)


# How every reader (validate, the run summary, report.html) names what `ignored_paths` lists.
IGNORED_WHY = "no image extension, a nested folder, or outside a class folder"
IGNORED_LABEL = f"ignored (not read: {IGNORED_WHY})"


EXIF_ORIENTATION = 0x0112  # the EXIF tag phones set instead of rotating the pixels
# Files whose EXIF orientation is looked at (JPEG; PNG may carry an eXIf chunk too).
ORIENTED_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png")


def exif_orientation(img) -> int:
    """An opened PIL image's EXIF orientation, 2..8 (turned or mirrored), else 1 (upright, no
    tag, or an unreadable tag). TensorFlow's decoders, hence training and the exported model,
    ignore it."""
    if img.format == "PNG" and "exif" not in img.info:
        # no eXIf chunk before the pixel data; looking further would decode the whole image
        # (Pillow's PNG getexif loads it), on every PNG of every validate and run
        return 1
    try:
        value = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # pylint: disable=broad-except  (a malformed EXIF block: as stored)
        return 1
    return value if value in range(2, 9) else 1


# Folders of metadata that archivers add beside the images: a macOS zip's `__MACOSX/` holds an
# AppleDouble `._name.jpg` for every file (binary junk with an image extension).
METADATA_FOLDERS = frozenset({"__MACOSX"})


def is_hidden_name(name: str) -> bool:
    """True for a file or folder name every reader skips without a mention: dot names
    (`.DS_Store`, `._x.png`, `.ipynb_checkpoints`) and archive metadata folders (`__MACOSX`)."""
    return name.startswith(".") or name in METADATA_FOLDERS


def is_hidden_path(path: str, root: str) -> bool:
    """True when any part of `path` below `root` is a hidden name (`is_hidden_name`)."""
    return any(is_hidden_name(part) for part in os.path.relpath(path, root).split(os.sep)
               if part not in (".", ".."))


def printable(path: str) -> str:
    """`path` as it reads, or its repr when it holds a character a terminal would act on or
    hide (macOS's `Icon\r` file, a newline, an escape)."""
    return path if path.isprintable() else repr(path)


def is_image_file(path: str) -> bool:
    """True when `path`'s extension (case-insensitive) is one of IMAGE_SUFFIXES."""
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def needs_conversion(path: str) -> bool:
    """True for an image extension TensorFlow cannot decode (.webp, .tif, .heic, ...): the run
    quarantines such a file, so `validate` names it before any work."""
    suffix = os.path.splitext(path)[1].lower()
    return suffix in IMAGE_SUFFIXES and suffix not in TENSORFLOW_SUFFIXES


def ignored_paths(root: str, files: Iterable[str], folders: Iterable[str],
                  loose: Iterable[str]) -> List[str]:
    """What ImageExampleGen does not read, relative to `root`, sorted: the non-image `files`
    matched by a split's pattern, the `folders` it matched where an image is expected (a
    nested `train/bag/extra`, given a trailing '/') and the `loose` files one level up, outside
    any class folder (`train/stray.png`). One rule for ExampleGen and `validate`."""
    return sorted([os.path.relpath(p, root) for p in partition_image_files(files)[1]]
                  + [os.path.relpath(p, root) for p in loose]
                  + [os.path.relpath(d, root) + "/" for d in folders])


def partition_image_files(paths: Iterable[str]) -> Tuple[List[str], List[str]]:
    """(images, ignored): `paths` split by `is_image_file`, each in the given order."""
    images, ignored = [], []
    for p in paths:
        (images if is_image_file(p) else ignored).append(p)
    return images, ignored

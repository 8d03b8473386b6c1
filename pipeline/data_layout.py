"""Where each data role's files are in an image-folder tree, and the checks made before a run.

Three roles (modules/splits.py): train, validation, test. From the config's
patterns (relative to `data.root`):

    eval_pattern == ''                   one input (e.g. `span-{SPAN}/<class>/*`) hash-split by
                                         path into train / validation / test (split_hash_buckets)
    a test split exists                  train_pattern -> train, test_pattern -> test, and
                                         eval_pattern -> validation (or, when it matches nothing,
                                         validation is carved out of train)
    otherwise (today's train/ + eval/)   train_pattern -> train minus the carved validation
                                         (validation_fraction, by a stable hash of the path),
                                         eval_pattern -> test (held out)

A root of class folders alone (`<root>/<class>/*`, no split folder) is the first layout with
`*/*` (`flat_class_folders`; the config loader switches to it when the patterns are the defaults).

test_pattern 'auto' (the default) is `test/*/*` when that matches files under a local root, and
no test split otherwise (a remote root cannot be listed: name its test folder explicitly);
'' means no test split; any other pattern is the test split.

`check_classes` proves before any work that every configured class has images in every split and
that no split holds a class folder that is not configured.
"""
from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from modules.class_names import quoted
from modules import image_files
from modules import splits as roles
from modules.span_patterns import SPAN_SPEC, VERSION_SPEC, as_glob, spans_regex


class LayoutError(ValueError):
    """The data tree does not fit the configured layout (the message names split and class)."""


def is_uri(path: str) -> bool:
    """gs://, s3://, ... : a remote location (kept as is, never checked on the local disk)."""
    return "://" in path


def has_span(pattern: str) -> bool:
    """True when `pattern` holds TFX's `{SPAN}` (or `{SPAN:width}`) placeholder."""
    return bool(SPAN_SPEC.search(pattern))


def pattern_for_span(pattern: str, span: int) -> str:
    """`span-{SPAN}/*/*`, 3 -> `span-3/*/*` (zero-padded for `{SPAN:width}`); {VERSION} -> *."""
    def fill(m: "re.Match[str]") -> str:
        return str(span).zfill(int(m.group(1))) if m.group(1) else str(span)
    return VERSION_SPEC.sub("*", SPAN_SPEC.sub(fill, pattern))


def spans_on_disk(root: str, pattern: str) -> List[int]:
    """Sorted span numbers that have at least one file matching `<root>/<pattern>`."""
    glob_pattern = as_glob(pattern)
    regex = re.compile(spans_regex(pattern))
    spans = set()
    for path in glob.glob(os.path.join(glob.escape(root), glob_pattern)):
        m = regex.fullmatch(os.path.relpath(path, root))
        if m and os.path.isfile(path):
            spans.add(int(m.group("span")))
    return sorted(spans)


def span_folder_problems(root: str, pattern: str) -> List[str]:
    """What in `<root>` matches the span pattern's folders but would break or confuse TFX's
    span resolution: a folder whose span part is not a number (`span-2-old`: ExampleGen fails
    on it) and two folders of one span number (`span-3` and `span-03`: only one is read, and
    the other's files still change the fingerprint). One line each; [] when all is well."""
    first = pattern.split("/")[0]
    if not has_span(first):
        return []
    glob_first = as_glob(first)
    regex = re.compile(spans_regex(first))
    by_span: Dict[int, List[str]] = {}
    odd = []
    for path in sorted(glob.glob(os.path.join(glob.escape(root), glob_first))):
        if not os.path.isdir(path):
            continue
        name = os.path.basename(path)
        m = regex.fullmatch(name)
        if m is None:
            odd.append(name)
        else:
            by_span.setdefault(int(m.group("span")), []).append(name)
    problems = []
    if odd:
        problems.append(f"folder(s) {odd} match {first!r} but their span is not a number "
                        f"(ExampleGen would fail on them): rename or move them out of {root}")
    for span, names in sorted(by_span.items()):
        if len(names) > 1:
            problems.append(f"folders {names} are all span {span}: only one would be read; "
                            f"merge them into one or move the others out of {root}")
    return problems


def span_window(spans: List[int], num_spans: int) -> List[int]:
    """The spans of the rolling window ending at the newest span (those present on disk)."""
    if not spans:
        return []
    return [s for s in spans if s > spans[-1] - num_spans]


def missing_in_window(spans: List[int], num_spans: int) -> List[int]:
    """The span numbers of the rolling window ending at the newest span (`span_window`) that
    are not on disk: spans 1, 2, 3, 5 with a window of 3 miss [4]. None below the oldest span on
    disk: a first span 1 with a window of 2 misses nothing (not a span 0, helper-59)."""
    if not spans:
        return []
    first = max(spans[-1] - num_spans + 1, spans[0])
    return [s for s in range(first, spans[-1] + 1) if s not in spans]


GLOB_CHARACTERS = "[*?"  # wildcards in TFX's and TensorFlow's file patterns (']' alone is not)


def glob_characters(path: str) -> str:
    """The characters of `path` that TensorFlow's glob (ExampleGen's input patterns) reads as
    wildcards, '' for none: a data root holding them matches nothing. Class folders may hold
    them (`*` matches them; listing here escapes the root and each class folder)."""
    return "".join(sorted({c for c in path if c in GLOB_CHARACTERS}))


def _visible(root: str, pattern: str) -> List[str]:
    """Paths matching `<root>/<pattern>` but for hidden ones (Python's glob skips dot names;
    archive metadata folders such as `__MACOSX` are dropped here)."""
    return [p for p in glob.glob(os.path.join(glob.escape(root), pattern))
            if not image_files.is_hidden_path(p, root)]


def _visible_files(root: str, pattern: str) -> List[str]:
    return sorted(p for p in _visible(root, pattern) if os.path.isfile(p))


def broken_links(root: str, pattern: str) -> List[str]:
    """Symbolic links matching `<root>/<pattern>` whose target does not exist, relative to
    `root`, sorted. Hidden names too: ExampleGen's driver globs them all (TensorFlow's `*`
    matches a leading dot) and fails on the first it cannot stat, with a NotFoundError that
    names no file."""
    return sorted(os.path.relpath(p, root)
                  for p in glob.glob(os.path.join(glob.escape(root), pattern),
                                     include_hidden=True)
                  if os.path.islink(p) and not os.path.exists(p))


def files_matching(root: str, pattern: str) -> List[str]:
    """Sorted image files (by extension, modules/image_files.py) matching `<root>/<pattern>`
    (hidden files and folders skipped): the files ImageExampleGen reads."""
    return image_files.partition_image_files(_visible_files(root, pattern))[0]


def ignored_files(root: str, pattern: str) -> List[str]:
    """What ImageExampleGen ignores under `<root>/<pattern>`, relative to `root`, sorted:
    non-image files (notes.txt, Thumbs.db), folders where an image is expected (a nested
    `train/bag/extra/` for `train/*/*`, with a trailing '/') and files outside any class folder
    (`train/stray.png`)."""
    folders = [p for p in _visible(root, pattern) if os.path.isdir(p)]
    loose = _visible_files(root, os.path.dirname(pattern)) if os.path.dirname(pattern) else []
    return image_files.ignored_paths(root, _visible_files(root, pattern), folders, loose)


def empty_class_folders(root: str, pattern: str) -> List[str]:
    """Non-hidden folders at the class level of `<root>/<pattern>` that contain no matching image
    (a folder holding only notes.txt is empty).

    Class discovery (below) only sees folders that hold files, so without this check an empty
    class folder would silently disappear (and shift the labels of the classes after it).
    """
    folders = [d for d in _visible(root, os.path.dirname(pattern)) if os.path.isdir(d)]
    return sorted(os.path.relpath(d, root) for d in folders
                  if not files_matching(d, os.path.basename(pattern)))


def classes_on_disk(root: str, train_pattern: str) -> List[str]:
    """Sorted class folders under `train_pattern` in a local `root` (the newest span's with
    {SPAN}); [] when nothing matches."""
    if has_span(train_pattern):
        spans = spans_on_disk(root, train_pattern)
        if not spans:
            return []
        train_pattern = pattern_for_span(train_pattern, max(spans))
    return discover_class_names(root, train_pattern)


def discover_class_names(root: str, pattern: str) -> List[str]:
    """Sorted class-folder names: the parent folders of files matched by `<root>/<pattern>`."""
    return sorted({os.path.basename(os.path.dirname(p)) for p in files_matching(root, pattern)})


FLAT_TRAIN_PATTERN = "*/*"
# Folder names that make a root a split tree, not a root of class folders (any letter case).
SPLIT_FOLDER_NAMES = ("train", "eval", "test", "val", "valid", "validation")


def flat_class_folders(root: str) -> List[str]:
    """The sorted class folders of a local root that holds class folders of images directly
    (`my_images/<class>/*.jpg`, no train/ or eval/): the folders holding images, when there is
    at least one and no folder is named like a split (`SPLIT_FOLDER_NAMES`, any case); []
    otherwise. One folder, or one beside an empty one, is still this layout, so the checks name
    the single class or the empty folder (helper-71)."""
    if is_uri(root) or not os.path.isdir(root):
        return []
    if any(e.lower() in SPLIT_FOLDER_NAMES and os.path.isdir(os.path.join(root, e))
           for e in os.listdir(root)):
        return []
    return discover_class_names(root, FLAT_TRAIN_PATTERN)


@dataclass
class SplitLayout:
    """How ExampleGen makes the three roles. patterns: input split name -> pattern (relative to
    the root, may hold {SPAN}); `validation_fraction` > 0 when validation is carved out of train
    (then patterns['validation'] == patterns['train']); `hash_buckets` when one input is
    hash-split (patterns has the single input)."""
    patterns: Dict[str, str]
    validation_fraction: float = 0.0
    hash_buckets: Dict[str, int] = field(default_factory=dict)
    description: str = ""

    @property
    def hashed(self) -> bool:
        return bool(self.hash_buckets)


def _matches(root: str, pattern: str) -> bool:
    if not pattern or is_uri(root):
        return False
    if has_span(pattern):
        return bool(spans_on_disk(root, pattern))
    return bool(files_matching(root, pattern))


AUTO = "auto"
AUTO_TEST_PATTERN = "test/*/*"


def resolve_test_pattern(root: str, test_pattern: str) -> str:
    """'auto' -> 'test/*/*' when it matches files under a local root, else ''."""
    if test_pattern != AUTO:
        return test_pattern
    return AUTO_TEST_PATTERN if _matches(root, AUTO_TEST_PATTERN) else ""


def split_layout(root: str, train_pattern: str, eval_pattern: str, test_pattern: str,
                 validation_fraction: float, hash_buckets: Dict[str, int]) -> SplitLayout:
    """The layout rule of the module docstring."""
    if not eval_pattern:
        return SplitLayout({roles.SINGLE_SPLIT: train_pattern},
                           hash_buckets={r: int(hash_buckets[r]) for r in roles.ROLES},
                           description=f"{train_pattern} hash-split by path "
                                       f"{dict(hash_buckets)}")
    test_pattern = resolve_test_pattern(root, test_pattern)
    if test_pattern:
        if eval_pattern and (is_uri(root) or _matches(root, eval_pattern)):
            return SplitLayout({roles.TRAIN: train_pattern, roles.VALIDATION: eval_pattern,
                                roles.TEST: test_pattern},
                               description=f"train {train_pattern}, validation {eval_pattern}, "
                                           f"test {test_pattern}")
        return SplitLayout({roles.TRAIN: train_pattern, roles.VALIDATION: train_pattern,
                            roles.TEST: test_pattern}, validation_fraction=validation_fraction,
                           description=f"train {train_pattern} minus a carved "
                                       f"{validation_fraction:.0%} validation, test "
                                       f"{test_pattern}")
    return SplitLayout({roles.TRAIN: train_pattern, roles.VALIDATION: train_pattern,
                        roles.TEST: eval_pattern}, validation_fraction=validation_fraction,
                       description=f"train {train_pattern} minus a carved "
                                   f"{validation_fraction:.0%} validation, test (held out) "
                                   f"{eval_pattern}")


def files_by_split(root: str, layout: SplitLayout, span: Optional[int] = None
                   ) -> Dict[str, List[str]]:
    """Relative paths of each role's files on the local disk (the newest span's when the
    patterns hold {SPAN}), assigned exactly as ImageExampleGen will."""
    def listed(pattern: str) -> List[str]:
        if span is not None:
            pattern = pattern_for_span(pattern, span)
        return [os.path.relpath(p, root) for p in files_matching(root, pattern)]

    if layout.hashed:
        (pattern,) = layout.patterns.values()
        names = list(layout.hash_buckets)
        out: Dict[str, List[str]] = {n: [] for n in names}
        for rel in listed(pattern):
            out[roles.hash_split(rel, names, list(layout.hash_buckets.values()))].append(rel)
        return out
    out = {name: listed(pattern) for name, pattern in layout.patterns.items()}
    if layout.validation_fraction:
        train = out[roles.TRAIN]
        out[roles.VALIDATION] = [p for p in train
                                 if roles.in_carved_split(p, layout.validation_fraction)]
        out[roles.TRAIN] = [p for p in train
                            if not roles.in_carved_split(p, layout.validation_fraction)]
    return out


def class_of(rel_path: str) -> str:
    return os.path.basename(os.path.dirname(rel_path))


def split_source(split: str, layout: SplitLayout) -> str:
    """"split 'test' (files eval/*/*)": a role with the folder pattern it is read from, so that
    a message about the held-out split names the user's eval/ folder."""
    pattern = layout.patterns.get(split)
    if not pattern:
        return f"split '{split}'"
    carved = " carved from them" if split == roles.VALIDATION and layout.validation_fraction \
        else ""
    return f"split '{split}' (files {pattern}{carved})"


def _unknown_class_hint(unknown: List[str], missing: List[str], in_train: bool = True) -> str:
    """' (...)': a misspelling named when an unknown folder is close to a class without images
    here, else the ways out (`in_train`: the folders are in the train split; else a class of
    theirs would have no train images)."""
    import difflib
    import unicodedata

    def form(name: str) -> str:
        return "NFC" if unicodedata.is_normalized("NFC", name) else "NFD or mixed"
    same = [(u, m) for u in unknown for m in missing if u != m and unicodedata.normalize(
        "NFC", u) == unicodedata.normalize("NFC", m)]
    if same:  # identical on screen, different code points (macOS stores names decomposed)
        told = "; ".join(f"folder {quoted(u)} is {quoted(m)} written with other Unicode code points "
                         f"(folder: {form(u)} {[hex(ord(c)) for c in u]}, data.class_names: "
                         f"{form(m)} {[hex(ord(c)) for c in m]})" for u, m in same)
        return (f" ({told}: rename the folder or write data.class_names with the folder's "
                f"code points, e.g. by copying its name)")
    close = [(u, difflib.get_close_matches(u, missing, n=1, cutoff=0.6)) for u in unknown]
    named = [f"{quoted(u)} looks like {quoted(m[0])}" for u, m in close if m]
    if named:
        return (f" ({'; '.join(named)}, which has no images in this split: rename the "
                f"folder or correct data.class_names so that they match)")
    if not in_train:
        return (" (misspelt? else a class needs images in every split, train included: add "
                "its train images (and list it in data.class_names if you set that), or remove "
                "the folders)")
    return " (misspelt? add them to data.class_names or remove the folders)"


MIN_IMAGES_PER_CLASS = 10  # below this, a class's validation/test figures rest on a few images


def few_images(counts: Dict[str, Dict[str, int]], layout: SplitLayout,
               minimum: int = MIN_IMAGES_PER_CLASS) -> List[str]:
    """One note per validation/test split where some class has fewer than `minimum` images
    (counts as `check_classes` returns them): what rests on them and how to get more."""
    notes = []
    for split in (roles.VALIDATION, roles.TEST):
        thin = {c: n for c, n in counts.get(split, {}).items() if n < minimum}
        if not thin:
            continue
        few = ", ".join(f"{n} of '{c}'" for c, n in thin.items())
        if split == roles.VALIDATION:
            what = (f"tuning, early stopping and the parity gate judge "
                    f"{'these classes' if len(thin) > 1 else 'this class'} on few images")
            how = ("raise data.validation_fraction or give a validation folder"
                   if layout.validation_fraction else "add images")
        else:
            what = (f"{'their recall gates' if len(thin) > 1 else 'its recall gate'} and the "
                    f"test figures rest on few images")
            how = "add images"
        notes.append(f"{split_source(split, layout)}: only {few} (fewer than {minimum} "
                     f"images): {what}; {how}")
    return notes


IMBALANCE_RATIO = 5  # train classes this far apart get a note


def imbalance(counts: Dict[str, Dict[str, int]], class_weight: str,
              ratio: float = IMBALANCE_RATIO) -> List[str]:
    """One note when the largest train class has at least `ratio` times the images of the
    smallest (counts as `check_classes` returns them): the counts, and what
    `trainer.class_weight` does about it."""
    train = {c: n for c, n in counts.get(roles.TRAIN, {}).items() if n > 0}
    if len(train) < 2:
        return []
    small, large = min(train, key=train.get), max(train, key=train.get)
    if train[large] < ratio * train[small]:
        return []
    weighting = ("trainer.class_weight: balanced weighs each image by the inverse of its "
                 "class's count, so the small classes count as much in the loss, from fewer "
                 "distinct images" if class_weight == "balanced" else
                 "trainer.class_weight: none, so the large classes dominate the loss; "
                 "'balanced' weighs each class alike")
    return [f"split '{roles.TRAIN}': classes are imbalanced, from {train[large]} images of "
            f"{quoted(large)} to {train[small]} of {quoted(small)} ({train[large] / train[small]:.1f}:1); "
            f"{weighting}; more images of the small classes help most"]


def overlapping_roles(files: Dict[str, List[str]]) -> List[Tuple[str, str, List[str]]]:
    """(role, role, shared relative paths) for each pair of `files_by_split` roles that share a
    file: two data.*_pattern keys matching the same folder (test_pattern=eval/*/* beside
    eval_pattern's validation) would tune or train on the held-out images."""
    names = list(files)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(files[a]) & set(files[b]))
            if shared:
                out.append((a, b, shared))
    return out


def undecodable_formats(files: Dict[str, List[str]], max_fraction: float,
                        layout: Optional[SplitLayout] = None, root: Optional[str] = None,
                        max_pixels: int = 25_000_000) -> Tuple[List[str], List[str]]:
    """(errors, notes) about the image files ImageExampleGen will quarantine, per split of
    `files_by_split` (relative paths): extensions TensorFlow does not decode (`image_files.
    needs_conversion`: .webp, .tif, ...) and, when `root` is given, what each file's header
    shows (`file_problem`: empty, not an image, another format, above `max_pixels`, a BMP
    TensorFlow misreads). A split where they exceed its allowance (`image_files.
    quarantine_allowance`: `max_fraction`, data.max_quarantine_fraction, of it and at least one
    file) fails the run, and so does a class left without a readable file in a split: errors
    here; fewer are a note. Truncated or corrupt pixel data shows only in a full decode: the
    run quarantines and names it."""
    errors, notes = [], []
    kind_of = {p: (file_problem(os.path.join(root, p), max_pixels) if root is not None
                   else os.path.splitext(p)[1].lower() if image_files.needs_conversion(p)
                   else "")
               for paths in files.values() for p in paths}
    unreadable = {p for p, kind in kind_of.items() if kind}
    for split, name, class_files in image_files.unreadable_classes(files, unreadable):
        # per output split, as ImageExampleGen checks classes after its quarantine
        errors.append(f"split '{split}': class {name!r} has no readable image: all "
                      f"{len(class_files)} of its files there would be quarantined ("
                      + ", ".join(f"{p}: {kind_of[p]}" for p in class_files[:3])
                      + (" ..." if len(class_files) > 3 else "") + ")")
    if layout is not None and layout.hashed:  # ImageExampleGen counts its one input split
        files = {roles.SINGLE_SPLIT: [p for paths in files.values() for p in paths]}
    for split, paths in files.items():
        odd = {p: kind_of[p] for p in paths if kind_of[p]}
        if not odd:
            continue
        kinds = sorted(set(odd.values()))
        listed = ", ".join(f"{p} ({odd[p]})" if len(kinds) > 1 else p for p in list(odd)[:5]) \
            + (" ..." if len(odd) > 5 else "")
        what = (f"{roles.split_words(split)}: {len(odd)} of {len(paths)} files "
                + (f"are {kinds[0]}" if len(kinds) == 1 else f"are {', '.join(kinds)}")
                + f", which the run will not read (TensorFlow decodes PNG, JPEG, GIF and BMP; "
                  f"data.max_image_pixels caps the size): {listed}")
        fixes = []
        if any(k.startswith(".") or " inside " in k or k == BMP_KIND for k in kinds):
            fixes.append("convert them to PNG or JPEG")
        if EMPTY in kinds or NOT_AN_IMAGE_KIND in kinds:
            fixes.append("replace the " + ("empty ones" if NOT_AN_IMAGE_KIND not in kinds
                                           else "ones that are not images" if EMPTY not in kinds
                                           else "empty ones and those that are not images")
                         + " with the images")
        if TOO_LARGE in kinds:
            fixes.append("shrink the large ones (or raise data.max_image_pixels)")
        fix = "; ".join(fixes)
        allowed = image_files.quarantine_allowance(len(paths), max_fraction)
        if len(odd) > allowed:
            errors.append(f"{what}; the run would quarantine them, above "
                          f"data.max_quarantine_fraction={max_fraction:.1%} of the split (at "
                          f"most {allowed} of its {len(paths)} files): {fix}, or remove them")
        else:
            # helper-74: validate reads headers, so a truncated file only shows in the run
            at_limit = (f"; that is the most data.max_quarantine_fraction="
                        f"{max_fraction:.1%} allows here (at most {allowed} of its {len(paths)} "
                        f"files): one more unreadable file, such as a truncated one that only "
                        f"a full decode in the run finds, stops the run"
                        if len(odd) == allowed else "")
            notes.append(f"{what}; they will be quarantined (not trained on): {fix} to use "
                         f"them{at_limit}")
    return errors, notes


EMPTY = "empty (0-byte)"
NOT_AN_IMAGE_KIND = "not images (content Pillow does not recognise: an HTML page saved as .jpg?)"
TOO_LARGE = "above data.max_image_pixels"


def file_problem(path: str, max_pixels: int) -> str:
    """Why ImageExampleGen will quarantine `path`, judged as it judges before decoding the
    pixels, '' when nothing shows: EMPTY, its extension (.webp, ...: a format TensorFlow does
    not decode, unless the content is PNG/JPEG/GIF/BMP), NOT_AN_IMAGE_KIND, '<FORMAT> inside
    .<ext>' (e.g. WEBP bytes saved as .jpg), TOO_LARGE or BMP_KIND (a palette or 1/4/16-bit
    BMP: the one format decoded here, by TensorFlow and Pillow, as the run checks it).
    Unreadable paths: '' (the run says). Memoised per path, size, mtime and `max_pixels`: a
    command that validates and then notes reads each header once."""
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    key = (path, stat.st_size, stat.st_mtime_ns, max_pixels)
    if key not in _FILE_PROBLEMS:
        _FILE_PROBLEMS[key] = _file_problem(path, stat.st_size, max_pixels)
    return _FILE_PROBLEMS[key]


_FILE_PROBLEMS: Dict[Tuple[str, int, int, int], str] = {}
BMP_KIND = "BMPs TensorFlow misreads (palette or 1/4/16-bit)"


def _file_problem(path: str, size: int, max_pixels: int) -> str:
    from PIL import Image, UnidentifiedImageError
    if size == 0:
        return EMPTY
    suffix = os.path.splitext(path)[1].lower()
    try:
        with Image.open(path) as img:
            if image_files.header_problem(img, max_pixels):
                if img.size[0] * img.size[1] > max_pixels:  # judged first, as the run judges
                    return TOO_LARGE
                return (suffix if image_files.needs_conversion(path)
                        else f"{img.format} inside {suffix or 'a file without extension'}")
            if img.format == "BMP":
                with open(path, "rb") as f:
                    return BMP_KIND if image_files.bmp_problem(f.read(), img) else ""
            return ""
    except Image.DecompressionBombError:  # over twice Pillow's own limit: refused on open
        return TOO_LARGE
    except UnidentifiedImageError:
        return suffix if image_files.needs_conversion(path) else NOT_AN_IMAGE_KIND
    except Exception:  # pylint: disable=broad-except  (truncated pixels etc.: the run says)
        return ""


def _uses_transparency(img) -> bool:
    """Whether a GIF's first frame has a pixel of its transparent colour (a transparent index
    no pixel uses changes nothing)."""
    index = img.info.get("transparency")
    if index is None:
        return False
    if not isinstance(index, int) or img.mode not in ("P", "L"):
        return True
    import numpy as np
    img.seek(0)
    return bool((np.asarray(img) == index).any())


def read_images(root: str, files: Dict[str, List[str]], suffix: str,
                read: Callable[[Any], Any]) -> List[Tuple[str, Any]]:
    """[(path relative to `root`, read(open Pillow image))] for each file of `files` whose name
    ends with `suffix` (any case). Files Pillow cannot open or `read` fails on are left out
    (ImageExampleGen quarantines them and says why)."""
    from PIL import Image
    out = []
    for paths in files.values():
        for rel in paths:
            if not rel.lower().endswith(suffix):
                continue
            try:
                with Image.open(os.path.join(root, rel)) as img:
                    out.append((rel, read(img)))
            except Exception:  # pylint: disable=broad-except  (ExampleGen says why)
                continue
    return out


def gif_notes(root: str, files: Dict[str, List[str]]) -> List[str]:
    """At most two notes on the GIFs of `files` (relative to `root`): animated ones, of which
    only the first frame is trained on and served, and ones with a transparent colour, whose
    transparent pixels TensorFlow's decoder leaves black instead of `data.alpha_background`.
    Opens the GIFs only, reading up to their 2nd frame."""
    kinds = read_images(root, files, ".gif",
                        lambda img: (_uses_transparency(img), getattr(img, "is_animated", False)))
    transparent = [rel for rel, (keyed, _) in kinds if keyed]
    animated = [rel for rel, (_, moving) in kinds if moving]

    def listed(paths: List[str]) -> str:
        return ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
    notes = []
    if animated:
        notes.append(f"{len(animated)} animated GIF(s): only the first frame is trained on (and "
                     f"read by the exported model): {listed(animated)}")
    if transparent:
        notes.append(f"{len(transparent)} GIF(s) with a transparent colour: TensorFlow reads "
                     f"their transparent pixels as black (0, 0, 0), in training and in the "
                     f"exported model, not as data.alpha_background; convert them to PNG to "
                     f"keep the transparency: {listed(transparent)}")
    return notes


def colour_key_notes(root: str, files: Dict[str, List[str]]) -> List[str]:
    """At most one note on the PNGs of `files` (relative to `root`) whose transparency is a
    colour key (a tRNS chunk on a grayscale or RGB image, no alpha channel): viewers show those
    pixels transparent, but TensorFlow's decoder, hence training and the exported model, reads
    their colour as stored, not data.alpha_background (helper-60). Reads PNG headers only."""
    keyed = [rel for rel, is_keyed in read_images(
        root, files, ".png",
        lambda img: img.mode not in ("P", "PA", "LA", "RGBA") and "transparency" in img.info)
        if is_keyed]
    if not keyed:
        return []
    return [f"{len(keyed)} PNG(s) whose transparency is a colour key (tRNS, no alpha channel): "
            f"TensorFlow reads the keyed colour as stored, in training and in the exported "
            f"model, not as data.alpha_background; save them with an alpha channel (RGBA) to "
            f"composite them: " + ", ".join(keyed[:5]) + (" ..." if len(keyed) > 5 else "")]


VALIDATION_FOLDER_NAMES = ("val", "valid", "validation", "dev")  # common names for validation
SPLIT_FOLDER_NAMES = ("train", "eval", "test", *VALIDATION_FOLDER_NAMES)
UNREAD_WALK_LIMIT = 100_000  # files looked at in all unread folders, at most


def unread_folders(root: str, layout: SplitLayout) -> List[str]:
    """At most two notes on top-level folders of `root` that no split pattern reads: those
    holding image files (a `val/` beside `train/` and `test/`, a Kaggle-style unlabelled
    `test/`), with their image counts and, for a folder named like a validation split, the
    setting that reads it; and folders named like a split that hold no image file (a `test/`
    whose class folders are still empty: the held-out split is then another folder)."""
    firsts = {re.sub(r"\{[^}]*\}", "*", pattern.split("/")[0])
              for pattern in layout.patterns.values() if pattern}
    unread, seen, cut, empty = {}, 0, False, []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if (image_files.is_hidden_name(entry) or not os.path.isdir(path)
                or any(fnmatch.fnmatchcase(entry, first) for first in firsts)):
            continue
        count = 0
        for _folder, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not image_files.is_hidden_name(d)]
            count += sum(image_files.is_image_file(n) for n in names
                         if not image_files.is_hidden_name(n))
            seen += len(names)
            if seen > UNREAD_WALK_LIMIT:
                cut = True
                break
        if count:
            unread[entry] = f"{'at least ' if cut else ''}{count}"
        elif not cut and entry.lower() in SPLIT_FOLDER_NAMES:
            empty.append(entry)
        if cut:
            break
    notes = []
    if empty:  # e.g. test/<class>/ folders made, images not copied yet: eval/ is held out
        test = layout.patterns.get(roles.TEST)
        notes.append(f"folder(s) named like a split but holding no image file: "
                     f"{', '.join(f'{name}/' for name in empty)}; no split reads them"
                     + (f" (the held-out test split is {test})" if test else ""))
    if not unread:
        return notes
    note = ("folder(s) no split reads, holding images: "
            + ", ".join(f"{name}/ ({n} image file(s))" for name, n in unread.items())
            + f"; the splits read {', '.join(sorted(set(layout.patterns.values())))}")
    validation = [name for name in unread if name.lower() in VALIDATION_FOLDER_NAMES]
    if validation and roles.TEST in layout.patterns and layout.validation_fraction:
        note += (f"; to validate on {validation[0]}/ instead of a part carved from train, "
                 f"--set 'data.eval_pattern={validation[0]}/*/*'")
    return notes + [note]


UPSCALE_FACTOR = 2  # images this many times smaller than the model input get a note
STRETCH_RATIO = 3  # images this many times wider than tall (or taller than wide) get a note
UPSCALE_SAMPLE = 2000  # image headers read at most, evenly spaced over the files


def sampled_sizes(root: str, files: Dict[str, List[str]]) -> Tuple[Dict[str, Tuple[int, int]],
                                                                   int, bool]:
    """({rel: (width, height) in pixels}, files sampled, whether it is a sample): the headers of
    up to UPSCALE_SAMPLE files, evenly spaced over `files` (relative to `root`); unreadable
    files are skipped (ExampleGen says why)."""
    from PIL import Image
    paths = [rel for split_files in files.values() for rel in split_files]
    step = max(1, -(-len(paths) // UPSCALE_SAMPLE))
    sizes = {}
    for rel in paths[::step]:
        try:
            with Image.open(os.path.join(root, rel)) as img:
                sizes[rel] = img.size
        except Exception:  # pylint: disable=broad-except  (ExampleGen says why)
            continue
    return sizes, len(paths[::step]), step > 1


def size_notes(root: str, files: Dict[str, List[str]], image_size: int,
               smallest_input: int = 32) -> List[str]:
    """At most two notes on the sampled image sizes (`sampled_sizes`):
    - upscaled: the shorter side is at most 1/UPSCALE_FACTOR of `image_size` (the model's input,
      pixels), so the model sees interpolated pixels, no more detail, at the full input size's
      cost; none at `smallest_input` (VGG16's minimum: nothing smaller to suggest);
    - stretched: one side is STRETCH_RATIO or more times the other; the Transform and the
      exported model resize to a square without keeping the aspect ratio, so shapes are
      distorted (a 28x1 strip becomes a 32x32 smear)."""
    sizes, sampled, is_sample = sampled_sizes(root, files)

    def of(n: int) -> str:
        return f"{n} of {sampled}" + (" sampled" if is_sample else "")
    notes = []
    small = [rel for rel, (w, h) in sizes.items() if min(w, h) * UPSCALE_FACTOR <= image_size]
    if small and image_size > smallest_input:
        rel = min(small, key=lambda r: min(sizes[r]))
        width, height = sizes[rel]
        notes.append(f"{of(len(small))} images are at most half the model's input size "
                     f"({image_size} px, model.image_size) on their shorter side (smallest: "
                     f"{rel}, {width}x{height}): they are upscaled, which adds no detail and "
                     f"costs the full input size's compute; a model.image_size closer to the "
                     f"images' (at least 32) trains and serves faster")

    def ratio(rel):
        return max(sizes[rel]) / max(1, min(sizes[rel]))
    thin = [rel for rel in sizes if ratio(rel) >= STRETCH_RATIO]
    if thin:
        rel = max(thin, key=ratio)
        width, height = sizes[rel]
        notes.append(f"{of(len(thin))} images are {STRETCH_RATIO} or more times as wide as tall "
                     f"or as tall as wide (most: {rel}, {width}x{height}): the model's input is "
                     f"square ({image_size}x{image_size}) and images are resized to it without "
                     f"keeping their aspect ratio, so their shapes are stretched; crop or pad "
                     f"them to near-square if that matters (a client serving the model must "
                     f"do the same)")
    return notes




def rotated_by_exif(root: str, files: Dict[str, List[str]]) -> List[str]:
    """At most one note: the JPEGs and PNGs of `files` (relative to `root`) whose EXIF
    orientation is not 1 (upright). TensorFlow's decoder, hence the Transform and the exported
    model, ignores the tag and reads the pixels as stored: such photos train (and are served)
    sideways or upside down unless rotated first. Reads each file's header only."""
    from PIL import Image
    tagged = []
    for paths in files.values():
        for rel in paths:
            if not rel.lower().endswith(image_files.ORIENTED_SUFFIXES):
                continue
            try:
                with Image.open(os.path.join(root, rel)) as img:
                    if image_files.exif_orientation(img) != 1:
                        tagged.append(rel)
            except Exception:  # pylint: disable=broad-except  (unreadable: ExampleGen says why)
                continue
    if not tagged:
        return []
    tagged.sort()
    listed = ", ".join(tagged[:5]) + (" ..." if len(tagged) > 5 else "")
    return [f"{len(tagged)} image(s) carry an EXIF orientation (phone photos stored sideways "
            f"with a tag saying how to turn them): TensorFlow, hence training, the test "
            f"metrics and the exported model, ignores the tag and sees the stored pixels: "
            f"{listed}; rotate the files upright, re-saved without the tag (`exiftran -ai`, or "
            f"Pillow's ImageOps.exif_transpose then save), and rotate images the same way "
            f"before sending them to the model"]


def linked_copies(root: str, files: Dict[str, List[str]]) -> List[str]:
    """At most one note: image files of `files` (relative to `root`) that are one file read
    through symbolic links more than once (helper-74: `trouser/link_to_000.png` ->
    `img_000.png`; helper-77: a linked folder, `eval/cat` -> `../train/cat`). Each path is read
    as its own example, so that image counts twice in training or in the metrics; in two
    splits it has two roles, in two class folders two labels."""
    real_root = os.path.realpath(root)
    by_target: Dict[str, List[str]] = {}
    for paths in files.values():
        for rel in paths:
            by_target.setdefault(os.path.realpath(os.path.join(root, rel)), []).append(rel)
    pairs, labels = [], 0
    for target, reads in sorted(by_target.items()):
        if len(reads) < 2:
            continue
        rels = sorted(reads)
        # read through a link: its resolved path is not the path under the root
        linked = [r for r in rels if os.path.join(real_root, r) != target]
        original = next((r for r in rels if r not in linked),
                        os.path.relpath(target, real_root))
        new = [(r, original) for r in linked if r != original]
        pairs += new
        # paths that give the file another class folder's label than the first read path's
        first = class_of(original if original in rels else rels[0])
        labels += sum(class_of(r) != first for r in rels)
    if not pairs:
        return []
    listed = ", ".join(f"{link} -> {target}" for link, target in pairs[:5]) + (
        " ..." if len(pairs) > 5 else "")
    return [f"{len(pairs)} image path(s) read a file another path of the splits reads too, "
            f"through symbolic links ({listed}): each path is read as its own example, so "
            f"that image counts twice (in training, or in the held-out metrics; in two splits "
            f"it is in two roles"
            + (f"; {labels} of them under two class folders, with two labels" if labels else "")
            + "); remove the links, or copy and change the image if two examples are meant"]


def check_classes(files: Dict[str, List[str]], class_names: List[str],
                  layout: SplitLayout) -> Dict[str, Dict[str, int]]:
    """Images per split and class; LayoutError naming the split and class when a configured
    class has no image in a split or a split holds a class folder that is not configured."""
    counts: Dict[str, Dict[str, int]] = {}
    anywhere = {class_of(rel) for rels in files.values() for rel in rels}
    for split, rels in files.items():
        per_class = {c: 0 for c in class_names}
        unknown = set()
        for rel in rels:
            if class_of(rel) in per_class:
                per_class[class_of(rel)] += 1
            else:
                unknown.add(class_of(rel))
        where = split_source(split, layout)
        if split == roles.TEST and not rels and not layout.hashed:  # its pattern matches nothing
            raise LayoutError(
                f"{where}: no image files match {layout.patterns[split]!r} under data.root, so "
                f"there is no held-out split: add the held-out images there (a folder per "
                f"class), or let the pipeline split {layout.patterns[roles.TRAIN]!r} by path "
                f"hash into train/validation/test with --set data.eval_pattern=")
        missing = [c for c, n in per_class.items() if n == 0]
        if unknown:
            raise LayoutError(f"{where}: class folder(s) {sorted(unknown)} are not "
                              f"among data.class_names {class_names}"
                              + _unknown_class_hint(sorted(unknown), missing,
                                                    in_train=split == roles.TRAIN))
        if missing:
            how = ""
            absent = [c for c in missing if c not in anywhere]
            if absent:  # no folder of the class in the whole tree (or span): not a split matter
                how = (f" ({', '.join(repr(c) for c in absent)}: no image in any split of this "
                       f"data, no such class folder at all: add its images)")
            elif split == roles.VALIDATION and layout.validation_fraction:
                how = (f" (validation is carved from train: {layout.validation_fraction:.0%} "
                       f"of each class's files by path hash; add images, raise "
                       f"data.validation_fraction or give a validation folder)")
            elif layout.hashed:
                how = f" (hash split {layout.hash_buckets}: add images or change the buckets)"
            raise LayoutError(f"{where}: no images of class(es) {missing}; every "
                              f"configured class needs images in every split{how}")
        counts[split] = per_class
    return counts

"""ImageExampleGen's driver: TFX's FileBasedDriver with a fingerprint that sees labels.

TFX's input fingerprint (`io_utils.generate_fingerprint`) counts the matched files, their total
bytes and their mtimes (seconds). Moving an image from one class folder to another (`mv` keeps
the mtime) changes its label but none of those, so an unchanged fingerprint would reuse the
cached ExampleGen output and every model after it, trained on the old labels. The fingerprint
here adds a sha256 of the matched files' paths relative to the input base (the class folder is
part of the path), so relabelled, renamed or swapped files start a new run.

Both parts cover only the files ExampleGen reads: image files by extension
(`image_files.is_image_file`), hidden ones left out (`.DS_Store`, `._x.png`, `__MACOSX/`:
`image_files.is_hidden_name`), so adding or deleting a notes.txt or a .DS_Store retrains
nothing (helper-59: a notes.txt in a span fine-tuned the served model on the same images).
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, List, Optional

from tfx.components.example_gen import driver, input_processor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2

from modules.image_files import is_hidden_path, partition_image_files

NANO_PER_SEC = 10 ** 9


# Which files a fingerprint covers: READ (since 2026-12-06 afternoon), the image files ExampleGen
# reads; VISIBLE (2026-12-06 morning), every file but hidden ones; ALL (before), TFX's listing.
# `retrain` accepts a record made with any of them as unchanged data.
READ, VISIBLE, ALL = "read", "visible", "all"
LISTINGS = (READ, VISIBLE, ALL)


def listed_files(input_base: str, pattern: str, listing: str = READ) -> List[str]:
    """Sorted paths matching `<input_base>/<pattern>` that `listing` covers; READ: exactly the
    files the executor reads (`executor.list_split_paths`, then the image extensions)."""
    if listing == READ:
        from components.image_example_gen.executor import list_split_paths
        return partition_image_files(list_split_paths(input_base, pattern)[0])[0]
    paths = fileio.glob(os.path.join(input_base, pattern))
    if listing != ALL:
        paths = [p for p in paths if not is_hidden_path(p, input_base)]
    return sorted(paths)


def files_fingerprint(split_name: str, files: Iterable[str]) -> str:
    """TFX's `io_utils.generate_fingerprint` (file count, total bytes, xor and sum of the mtimes
    in whole seconds) over the given files."""
    files = list(files)
    total_bytes = xor_checksum = sum_checksum = 0
    for f in files:
        stat = fileio.stat(f)
        total_bytes += stat.length
        mtime = int(stat.mtime_nsec / NANO_PER_SEC)
        xor_checksum ^= mtime
        sum_checksum += mtime
    return (f"split:{split_name},num_files:{len(files)},total_bytes:{total_bytes},"
            f"xor_checksum:{xor_checksum},sum_checksum:{sum_checksum}")


def paths_digest(input_base: str, files_per_pattern: Iterable[Iterable[str]]) -> str:
    """sha256 over the sorted relative paths of each pattern's files under `input_base` (one
    '\\0'-terminated path each, patterns in order)."""
    digest = hashlib.sha256()
    for files in files_per_pattern:
        for path in sorted(files):
            digest.update(os.path.relpath(path, input_base).encode() + b"\0")
        digest.update(b"\n")
    return digest.hexdigest()


class ImageFileInputProcessor(input_processor.FileBasedInputProcessor):
    """FileBasedInputProcessor whose fingerprint covers only the files ExampleGen reads, and
    their relative paths too."""

    def get_input_fingerprint(self, span: int, version: Optional[int],
                              listing: str = READ) -> Optional[str]:
        """The fingerprint of the span's files that `listing` covers (one listing per pattern):
        READ, the image files read; VISIBLE or ALL, what earlier releases recorded (LISTINGS),
        which `retrain` accepts as unchanged data."""
        super().get_input_fingerprint(span, version)  # asserts that the span was resolved
        patterns = [self.get_pattern_for_span_version(split.pattern, span, version)
                    for split in self._splits]
        listed = [listed_files(self._input_base_uri, pattern, listing) for pattern in patterns]
        base = "\n".join(files_fingerprint(split.name, files)
                          for split, files in zip(self._splits, listed))
        return f"{base},paths_sha256:{paths_digest(self._input_base_uri, listed)}"


class ImageFileDriver(driver.FileBasedDriver):
    """FileBasedDriver (span/version resolution, RangeConfig) with ImageFileInputProcessor."""

    def get_input_processor(
            self, splits: Iterable[example_gen_pb2.Input.Split],
            range_config: Optional[range_config_pb2.RangeConfig] = None,
            input_base_uri: Optional[str] = None) -> input_processor.InputProcessor:
        assert input_base_uri
        return ImageFileInputProcessor(input_base_uri, splits, range_config)

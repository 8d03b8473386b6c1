"""Versioned, atomic model directories: `<serving_dir>/<version>/` appears complete or not at all.

A version is built in `<serving_dir>/.incomplete-<version>-<random>/` and moved into place with one
`os.rename` (atomic on a POSIX filesystem). Leftover `.incomplete-*` folders from a killed run are
never served and are removed by the next push. A published version is readable by every user
(directories 0755, files 0644, whatever the umask), so a serving process running as another user
can load it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import List

INCOMPLETE_PREFIX = ".incomplete-"


def list_versions(serving_dir: str) -> List[int]:
    """Sorted integer versions that are complete directories under `serving_dir`."""
    if not os.path.isdir(serving_dir):
        return []
    return sorted(int(n) for n in os.listdir(serving_dir)
                  if n.isdigit() and os.path.isdir(os.path.join(serving_dir, n)))


def next_version(serving_dir: str) -> int:
    """A version greater than every existing one: the Unix time in seconds when that is larger."""
    versions = list_versions(serving_dir)
    return max(int(time.time()), (versions[-1] + 1) if versions else 0)


def remove_incomplete(serving_dir: str) -> List[str]:
    """Deletes leftovers of interrupted pushes; returns their names."""
    if not os.path.isdir(serving_dir):
        return []
    removed = []
    for name in os.listdir(serving_dir):
        if name.startswith(INCOMPLETE_PREFIX):
            shutil.rmtree(os.path.join(serving_dir, name), ignore_errors=True)
            removed.append(name)
    return removed


def make_staging_dir(serving_dir: str, version: int) -> str:
    os.makedirs(serving_dir, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{INCOMPLETE_PREFIX}{version}-", dir=serving_dir)


def publish(staging_dir: str, serving_dir: str, version: int) -> str:
    """Atomically renames the staging dir to `<serving_dir>/<version>`; refuses to overwrite."""
    final = os.path.join(serving_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"model version {final} already exists; refusing to overwrite it")
    make_world_readable(staging_dir)
    _fsync_tree(staging_dir)
    os.rename(staging_dir, final)
    _fsync_dir(serving_dir)
    return final


DIR_MODE, FILE_MODE = 0o755, 0o644


def make_world_readable(root: str) -> None:
    """chmod 0755 on `root` and every directory under it, 0644 on every file."""
    os.chmod(root, DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), DIR_MODE)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), FILE_MODE)


def _fsync_tree(root: str) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(dirpath)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Versioned, atomic model directories: `<serving_dir>/<version>/` appears complete or not at all.

A version is built in `<serving_dir>/.incomplete-<version>/` (its creation reserves the version)
and moved into place with one `os.rename` (atomic on a POSIX filesystem). The building process
holds an flock on that directory, so leftovers of a killed push (no holder) are removed by the
next push while a push in progress from another output root sharing the serving dir is left
alone (on one host: flock on a network or FUSE file system such as Vertex's /gcs/ is local or
absent, and there leftovers are removed as before); `.incomplete-*` folders are never served.
A published version is readable by every user (directories 0755, files 0644, whatever the
umask), so a serving process running as another user can load it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

INCOMPLETE_PREFIX = ".incomplete-"


class ServingSpaceError(RuntimeError):
    """The serving dir's file system filled up while a version was built (the message names
    the dir and the free space; the staging dir is removed, pushed versions are unchanged)."""


class ServingNotWritableError(RuntimeError):
    """The serving dir could not be written while a version was reserved or built (permission
    or a read-only file system; the message names the dir; pushed versions are unchanged)."""


NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def not_writable_error(error: BaseException, serving_dir: str, version: Optional[int]
                       ) -> Optional[ServingNotWritableError]:
    """A ServingNotWritableError for `error` when it is a permission or read-only error (the
    check before the run passed, and the dir changed since: helper-62's `chattr +i` during the
    Evaluator gave a bare PermissionError and exit 1), else None."""
    if isinstance(error, OSError):
        if error.errno not in NOT_WRITABLE or not _under(error.filename, serving_dir):
            return None  # another path's permission (pipeline root, TMPDIR): not this dir's
        why = f"{error.strerror}: {error.filename}"
    else:  # TensorFlow's file API (fileio): PermissionDeniedError, not an OSError (review h63)
        message = str(error)
        if not (any(text in message for text in NOT_WRITABLE_TEXTS)
                and os.path.abspath(serving_dir) in message):
            return None
        why = message.strip().splitlines()[-1][:300]
    what = f"version {version}" if version is not None else "a new version"
    return ServingNotWritableError(
        f"cannot write {what} into {serving_dir} ({why}): its permissions or file system "
        f"changed after the run's start-up check; nothing was published and pushed versions "
        f"are unchanged; make it writable (or set output.serving_dir) and re-run: finished "
        f"steps are reused")


NOT_WRITABLE_TEXTS = ("Permission denied", "Operation not permitted", "Read-only file system")


def _under(path: Optional[str], folder: str) -> bool:
    if not path:
        return False
    path, folder = os.path.abspath(str(path)), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def no_space_error(error: BaseException, serving_dir: str, version: int
                   ) -> Optional[ServingSpaceError]:
    """A ServingSpaceError for `error` when it is 'No space left on device' (ENOSPC) or a
    TensorFlow error saying so, else None: the bare errno names no path."""
    message = str(error)
    if not ((isinstance(error, OSError) and error.errno == errno.ENOSPC)
            or "No space left on device" in message):
        return None
    try:
        free = f"{shutil.disk_usage(serving_dir).free / 1e6:.0f} MB free now"
    except OSError:
        free = "free space unknown"
    return ServingSpaceError(
        f"no space left on the file system of {serving_dir} while building "
        f"version {version} ({free}; a version holds the SavedModel and each .tflite, about "
        f"twice the SavedModel's size): the staging dir was removed and pushed versions are "
        f"unchanged; free space there (or set output.serving_dir) and re-run: finished steps "
        f"are reused")


def list_versions(serving_dir: str) -> List[int]:
    """Sorted integer versions that are complete directories under `serving_dir`."""
    if not os.path.isdir(serving_dir):
        return []
    return sorted(int(n) for n in os.listdir(serving_dir)
                  if n.isdigit() and os.path.isdir(os.path.join(serving_dir, n)))


def version_report(serving_dir: str, version: Optional[int]) -> Dict[str, Any]:
    """A pushed version's report.json as a dict; {} when there is no version, no file or it
    cannot be read."""
    if version is None:
        return {}
    return read_report(os.path.join(serving_dir, str(version), "report.json")) or {}


def read_report(path: str) -> Optional[Dict[str, Any]]:
    """A report.json at `path` as a dict; None when it is missing, cannot be read or parsed, or
    holds no JSON object."""
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def newest_served(serving_dir: str) -> Optional[int]:
    """The newest version under `serving_dir` that holds a SavedModel (the one `predict` uses;
    TF Serving takes the highest numbered folder, so remove a stray one); None when none does
    (a numbered folder made by hand is not a version)."""
    for version in reversed(list_versions(serving_dir)):
        if os.path.isfile(os.path.join(serving_dir, str(version), "saved_model",
                                       "saved_model.pb")):
            return version
    return None


def next_version(serving_dir: str) -> int:
    """A version greater than every existing one and every one a push in progress has reserved
    (`.incomplete-<version>`): the Unix time in seconds when that is larger."""
    versions = list_versions(serving_dir) + _staged_versions(serving_dir)
    return max(int(time.time()), max(versions) + 1 if versions else 0)


def incomplete_dirs(serving_dir: str) -> List[Tuple[str, int]]:
    """(name, bytes) of each unfinished version dir (`.incomplete-*`) under `serving_dir` that
    no live push holds: what a killed push left, hidden from every reader until the next push
    removes it (`remove_incomplete`)."""
    if not os.path.isdir(serving_dir):
        return []
    found = []
    for name in sorted(os.listdir(serving_dir)):
        if not name.startswith(INCOMPLETE_PREFIX) or _held_elsewhere(
                os.path.join(serving_dir, name)):
            continue
        size = 0
        for dirpath, _, names in os.walk(os.path.join(serving_dir, name)):
            for n in names:
                try:
                    size += os.lstat(os.path.join(dirpath, n)).st_size
                except OSError:
                    pass
        found.append((name, size))
    return found


def _held_elsewhere(path: str) -> bool:
    """True when a live push holds the staging dir `path` (its flock), or this process does."""
    if path in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:  # no flock on this file system: not known to be held
        return False
    finally:
        os.close(fd)  # closing releases a lock taken here


def _staged_versions(serving_dir: str) -> List[int]:
    if not os.path.isdir(serving_dir):
        return []
    found = []
    for name in os.listdir(serving_dir):
        digits = name[len(INCOMPLETE_PREFIX):].split("-")[0]
        if name.startswith(INCOMPLETE_PREFIX) and digits.isdigit():
            found.append(int(digits))
    return found


# Staging dirs this process is building, each held by an exclusive flock on its directory (the
# lock goes with the process: a killed push leaves a staging dir no one holds).
_HELD: Dict[str, int] = {}


def remove_incomplete(serving_dir: str) -> List[str]:
    """Deletes leftovers of interrupted pushes (staging dirs no live process holds); returns
    their names. A staging dir another push is building (another output root sharing this
    `serving_dir`) is left alone."""
    if not os.path.isdir(serving_dir):
        return []
    removed = []
    for name in sorted(os.listdir(serving_dir)):
        path = os.path.join(serving_dir, name)
        if not name.startswith(INCOMPLETE_PREFIX) or path in _HELD:
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a push in progress
            os.close(fd)
            continue
        except OSError:  # a file system without flock: removed, as before locks were used
            pass
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(name)
    return removed


def make_staging_dir(serving_dir: str, version: int) -> str:
    """Creates and holds `<serving_dir>/.incomplete-<version>` (mode 0700; FileExistsError when
    another push has reserved that version). Released by `publish` or `discard`."""
    os.makedirs(serving_dir, exist_ok=True)
    path = os.path.join(serving_dir, f"{INCOMPLETE_PREFIX}{version}")
    os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY)
    try:
        # The dir is ours (mkdir is atomic), so a lock on it is only ever held for a moment:
        # another root's `remove_incomplete`, or `incomplete_dirs` probing it (helper-77).
        for _ in range(100):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.01)
        else:
            raise BlockingIOError(path)
        # Another root's cleanup may have taken and removed the new dir between mkdir and
        # flock (then another push may have made one of that name): the lock must be on it.
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
    except BlockingIOError:
        os.close(fd)
        try:
            os.rmdir(path)  # ours and still empty: not left behind as an unfinished push
        except OSError:
            pass
        raise
    except FileNotFoundError:  # the name is another push's now: not ours to remove
        os.close(fd)
        raise
    except OSError:  # a file system without flock (some FUSE mounts): built unheld
        pass
    _HELD[path] = fd
    return path


def reserve_version(serving_dir: str, attempts: int = 100) -> Tuple[int, str]:
    """(version, its held staging dir): the next version no published version and no push in
    progress has, reserved atomically (two pushes into one serving dir in the same second get
    two versions)."""
    version = next_version(serving_dir)
    for _ in range(attempts):
        try:
            return version, make_staging_dir(serving_dir, version)
        except (FileExistsError, FileNotFoundError, BlockingIOError):
            # taken by another push, or removed by another root's cleanup before it was held
            version = max(version + 1, next_version(serving_dir))
    raise RuntimeError(f"could not reserve a model version in {serving_dir} "
                       f"after {attempts} attempts")


def release(staging_dir: str) -> None:
    """Lets go of a staging dir made by `make_staging_dir` (after publish or removal)."""
    fd = _HELD.pop(staging_dir, None)
    if fd is not None:
        os.close(fd)


def discard(staging_dir: str) -> None:
    """Removes a staging dir this process made (a failed push), then releases it."""
    shutil.rmtree(staging_dir, ignore_errors=True)
    release(staging_dir)


def publish(staging_dir: str, serving_dir: str, version: int) -> str:
    """Atomically renames the staging dir to `<serving_dir>/<version>`; refuses to overwrite."""
    final = os.path.join(serving_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"model version {final} already exists; refusing to overwrite it")
    make_world_readable(staging_dir)
    _fsync_tree(staging_dir)
    os.rename(staging_dir, final)
    release(staging_dir)
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

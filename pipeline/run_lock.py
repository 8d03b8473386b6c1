"""An exclusive, non-blocking lock on the output root: two runs never write the same outputs."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Dict, Iterator

LOCK_FILE = ".run.lock"
# A held lock is retried for ~0.1 s before a run gives up: `running_holder` (report) takes a
# shared lock for a moment, which must not turn a starting run away (review h63).
TAKE_ATTEMPTS, TAKE_RETRY_SECONDS = 6, 0.02


class AlreadyRunningError(RuntimeError):
    """Another run holds the lock on the same output root."""


# Lock files this process holds -> nesting depth. Re-entrant within a process (e.g. `retrain`
# holds the lock across its span checks, the backfill and the run, which takes it again).
_HELD: Dict[str, int] = {}


@contextlib.contextmanager
def run_lock(output_root: str) -> Iterator[str]:
    """Holds `<output_root>/.run.lock` (an flock on the file, opened for writing, as NFS needs;
    it also records the holder's pid) and, where the file system allows it, an flock on the
    output root directory itself, so that deleting the lock file cannot let a second run in.
    Both are released even on SIGKILL. Yields the lock file's path."""
    os.makedirs(output_root, exist_ok=True)
    path = os.path.join(output_root, LOCK_FILE)
    key = os.path.realpath(output_root)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    with contextlib.ExitStack() as held:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        held.callback(os.close, fd)
        _take(fd, output_root, path)
        try:
            dir_fd = os.open(output_root, os.O_RDONLY)
        except OSError:
            dir_fd = None
        if dir_fd is not None:
            held.callback(os.close, dir_fd)
            # NFS cannot flock a directory (EBADF): there the file lock alone holds
            _take(dir_fd, output_root, path, unsupported_ok=True)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]


def running_holder(output_root: str) -> str:
    """The pid recorded by a run that holds `output_root`'s lock now ('unknown' when it wrote
    none), '' when no run holds it. Takes nothing: it tests the lock file's flock with a
    shared, non-blocking lock that it drops at once, and creates no file."""
    path = os.path.join(output_root, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return ""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with open(path, encoding="utf-8") as f:
                return f.read().strip() or "unknown"
        except OSError:
            return ""  # no flock on this file system: cannot tell
        fcntl.flock(fd, fcntl.LOCK_UN)
        return ""
    finally:
        os.close(fd)


def _take(fd: int, output_root: str, path: str, unsupported_ok: bool = False) -> None:
    """flock(LOCK_EX | LOCK_NB) on `fd`; AlreadyRunningError (naming the recorded pid) when
    another process holds it; another OSError (no such lock on this file system) is raised
    unless `unsupported_ok`."""
    try:
        for _ in range(TAKE_ATTEMPTS - 1):  # `report` probes the lock for a moment
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(TAKE_RETRY_SECONDS)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            with open(path, encoding="utf-8") as f:
                holder = f.read().strip() or "unknown"
        except OSError:
            holder = "unknown"
        held_by = (f"held by pid {holder}, recorded in {path}" if holder != "unknown" else
                   f"held by a process whose pid is not recorded: {path} was deleted or emptied, "
                   f"and the lock on the folder itself still holds")
        raise AlreadyRunningError(
            f"a pipeline run is already running on {output_root} ({held_by}; the lock goes "
            f"when that process exits, even if killed); this run exits without touching its "
            f"outputs") from None
    except OSError:
        if not unsupported_ok:
            raise

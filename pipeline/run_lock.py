"""An exclusive, non-blocking lock on the output root (an flock on the directory itself): two runs
never write the same outputs."""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Dict, Iterator

LOCK_FILE = ".run.lock"


class AlreadyRunningError(RuntimeError):
    """Another run holds the lock on the same output root."""


# Lock files this process holds -> nesting depth. Re-entrant within a process (e.g. `retrain`
# holds the lock across its span checks, the backfill and the run, which takes it again).
_HELD: Dict[str, int] = {}


@contextlib.contextmanager
def run_lock(output_root: str) -> Iterator[str]:
    """Holds an flock on the output root directory itself for the duration (released even on
    SIGKILL; deleting a lock file cannot defeat it); `<output_root>/.run.lock` records the
    holder's pid for the message another run prints. Yields that file's path."""
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
    fd = os.open(output_root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                with open(path, encoding="utf-8") as f:
                    holder = f.read().strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise AlreadyRunningError(
                f"a pipeline run is already running on {output_root} (held by pid {holder}, "
                f"recorded in {path}; the lock goes when that process exits, even if killed); "
                f"this run exits without touching its outputs") from None
        with open(path, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
    finally:
        os.close(fd)

"""An exclusive, non-blocking lock on the output root: two runs never write the same outputs."""
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
    """Holds `<output_root>/.run.lock` (flock) for the duration; released even on SIGKILL."""
    os.makedirs(output_root, exist_ok=True)
    path = os.path.join(output_root, LOCK_FILE)
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with open(path, encoding="utf-8") as f:
                holder = f.read().strip() or "unknown"
            raise AlreadyRunningError(
                f"a pipeline run is already running on {output_root} (lock {path}, held by "
                f"pid {holder}); this run exits without touching its outputs") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
    finally:
        os.close(fd)

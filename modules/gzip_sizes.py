"""gzip sizes of files, computed in a background process while the caller does other work.

The ExportPusher reports the gzipped size of the SavedModel and of every `.tflite` (tens of MB at
gzip's level 6: ~10 s per push on a slow 2-core machine, the largest single stage). Queued here,
that work runs in a child Python (stdlib only, one file list at a time) on the other core while
the TFLite conversions and TensorFlow's interpreter run; `sizes()` waits for it. The numbers are
the same as `len(gzip.compress(data, level))` (modules/export.gzip_size).

Callers must call `sizes()` before timing anything (latency): until then a child may be running.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Tuple

from modules.export import GZIP_LEVEL

# The child: sums len(gzip.compress(file bytes, level)) over the files named on its command line.
_CHILD = ("import gzip, json, sys\n"
          "level = int(sys.argv[1]); total = 0\n"
          "for path in sys.argv[2:]:\n"
          "    with open(path, 'rb') as f:\n"
          "        total += len(gzip.compress(f.read(), compresslevel=level))\n"
          "print(json.dumps(total))\n")


def files_under(path: str) -> List[str]:
    """Every regular file under directory `path`, sorted (a file path is returned as [path])."""
    if os.path.isfile(path):
        return [path]
    return sorted(os.path.join(d, name) for d, _, names in os.walk(path) for name in names)


def _gzip_files(paths: List[str], level: int,
                on_start: Callable[[subprocess.Popen], None] = lambda proc: None
                ) -> Tuple[int, float, float]:
    """Runs the child over `paths`; `on_start` receives the child process (so that it can be
    killed) before it is waited for."""
    started = time.time()
    if not paths:
        return 0, started, started
    with subprocess.Popen([sys.executable, "-I", "-S", "-c", _CHILD, str(level), *paths],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        on_start(proc)
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"gzip of {paths[0]}{' ...' if len(paths) > 1 else ''} failed "
                           f"(exit {proc.returncode}): {tail}")
    return int(json.loads(stdout)), started, time.time()


class BackgroundGzip:
    """`add(key, path)` queues a file or directory; `sizes()` waits and returns {key: gzipped
    bytes} (a directory: the sum over its files, each gzipped alone). Jobs run one at a time
    in queue order; `windows` holds each finished job's (key, started_at, ended_at), s since
    the epoch. A context manager: leaving it normally waits for running jobs; leaving it on an
    exception drops the queued jobs and kills the running child, so the error is not held up."""

    def __init__(self, level: int = GZIP_LEVEL):
        self._level = level
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip")
        self._jobs: Dict[str, Future] = {}
        self.windows: List[Tuple[str, float, float]] = []
        self._running: Optional[subprocess.Popen] = None

    def add(self, key: str, path: str) -> None:
        """Queues `path` (read when its turn comes: it must stay until `sizes()` returns)."""
        if key in self._jobs:
            raise ValueError(f"gzip size {key!r} is already queued")
        if not os.path.exists(path):
            raise FileNotFoundError(f"gzip size {key!r}: {path} does not exist")
        self._jobs[key] = self._pool.submit(_gzip_files, files_under(path), self._level,
                                            self._started)

    def _started(self, proc: subprocess.Popen) -> None:
        self._running = proc

    def sizes(self) -> Dict[str, int]:
        """Waits for every queued job; raises the first job's error."""
        out: Dict[str, int] = {}
        self.windows = []
        for key, job in self._jobs.items():
            size, started, ended = job.result()
            out[key] = size
            self.windows.append((key, started, ended))
        return out

    def close(self, cancel: bool = False) -> None:
        """Waits for the jobs; `cancel`: drops the queued ones and kills the running child."""
        if cancel:
            self._pool.shutdown(wait=False, cancel_futures=True)
            proc = self._running
            if proc is not None and proc.poll() is None:
                proc.kill()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "BackgroundGzip":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(cancel=exc_type is not None)

"""A quiet console for `python -m pipeline run|retrain`: one line per component, the project's
warnings, and everything else in a log file.

`quiet_run(output_root, verbose)` is a context manager. Unless `verbose`, for its duration:

* the process's stdout and stderr *file descriptors* (1 and 2) point to
  `<output_root>/logs/run-YYYYmmdd-HHMMSS.log` (os.dup2): TensorFlow's C++ logs, Keras `fit`
  progress, Python warnings, Beam and every child process write there. Both are restored on the
  way out, also on an exception or KeyboardInterrupt;
* the Python logging stream (absl's, TFX's, Beam's) at INFO goes to that file too, with
  timestamps; root handlers that wrote to stdout/stderr are detached meanwhile (their output
  would land in the same file twice);
* a `ProgressHandler` writes to the saved, original stdout: a line when a component starts and
  one when it finishes (duration, cached or skipped), driven by the records TFX's LocalDagRunner
  and launcher log, plus the project's own warnings (`is_project_warning`).

The log's path is printed first and, after a successful run, last (just before the summary the
CLI prints). When the run fails, the caller's error message names it (`current_log()`; an
exception whose `run_log` attribute is that path counts as naming it), otherwise `quiet_run`
prints it on the original stderr. A nested `quiet_run` (retrain -> local_runner.run) joins the
outer one.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Callable, Dict, Iterator, Optional, Tuple

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_PACKAGES = ("pipeline", "components", "modules")

# TFX 1.16's lifecycle records, matched on the format string (record.msg) before formatting.
RUNNING = "Component %s is running."          # tfx/orchestration/local/local_dag_runner.py
FINISHED = "Component %s is finished."        # idem
SKIPPED_NODE = "Skipping component %s."       # idem: a node marked skip (partial run)
CACHED = "A cached execution %d is used."     # tfx/orchestration/portable/launcher.py
SKIPPED_EXECUTION = "Skipping execution for %s"  # launcher: no inputs, e.g. a false tfx.dsl.Cond
EXECUTION_FAILED = "Execution %d failed."     # launcher: the executor raised

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d] %(message)s"

_active_log: Optional[str] = None  # the log file of the quiet_run in progress


def current_log() -> Optional[str]:
    """The log file of the quiet run in progress (None: none, or --verbose)."""
    return _active_log


def is_project_warning(record: logging.LogRecord, root: str = PROJECT_ROOT) -> bool:
    """WARNING or above, logged by the project's own code: a logger named after one of its
    packages, or a call site (record.pathname) inside `<root>/{pipeline,components,modules}/`."""
    if record.levelno < logging.WARNING:
        return False
    if record.name.split(".", 1)[0] in PROJECT_PACKAGES:
        return True
    if not record.pathname:
        return False
    dirs = tuple(os.path.join(base, p) + os.sep for base in {root, os.path.realpath(root)}
                 for p in PROJECT_PACKAGES)
    return os.path.abspath(record.pathname).startswith(dirs) or \
        os.path.realpath(record.pathname).startswith(dirs)


NOTE = "data_note"  # a LogRecord attribute (logging's `extra`): printed as `note: ...`


class ProgressHandler(logging.Handler):
    """Writes one line per component start and finish (from TFX's records) and the project's
    warnings (at most `max_per_site` per call site) through `write`, each prefixed with the
    seconds since the handler was created."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 root: str = PROJECT_ROOT, max_per_site: int = 5):
        super().__init__(logging.INFO)
        self._write, self._clock, self._root = write, clock, root
        self._max_per_site = max_per_site
        self._t0 = clock()
        self._node: Optional[Tuple[str, float]] = None  # (node id, start) of the running one
        self._outcome: Optional[str] = None             # 'cached' | 'skipped' | 'failed'
        self._sites: Dict[Tuple[str, int], int] = {}

    def line(self, text: str) -> None:
        self._write(f"[{self._clock() - self._t0:6.1f}s] {text}")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._handle(record)
        except Exception:  # pylint: disable=broad-except
            self.handleError(record)

    def _handle(self, record: logging.LogRecord) -> None:
        msg, args = record.msg, record.args if isinstance(record.args, tuple) else ()
        if msg == RUNNING and args:
            self._node, self._outcome = (str(args[0]), self._clock()), None
            self.line(f"{args[0]} ...")
        elif msg == FINISHED and args:
            self._finished(str(args[0]))
        elif msg == SKIPPED_NODE and args:
            self.line(f"{args[0]} ... skipped (not part of this run)")
        elif msg == CACHED and self._node:
            self._outcome = "cached"
        elif msg == SKIPPED_EXECUTION and self._node:
            self._outcome = "skipped"
        elif msg == EXECUTION_FAILED and self._node:
            self.failed()
        elif is_project_warning(record, self._root):
            self._warning(record)

    def _finished(self, node: str) -> None:
        started = self._node[1] if self._node and self._node[0] == node else None
        seconds = f"{self._clock() - started:.1f} s" if started is not None else "?"
        outcome, self._node, self._outcome = self._outcome, None, None
        if outcome == "cached":
            self.line(f"{node} ... cached")
        elif outcome == "skipped":
            self.line(f"{node} ... skipped (its condition is false or an input is missing, e.g. "
                      f"the model was not blessed)")
        elif outcome != "failed":
            self.line(f"{node} ... done in {seconds}")

    def failed(self, interrupted: bool = False) -> None:
        """The running component failed (or was interrupted): its line, once."""
        if not self._node or self._outcome == "failed":
            return
        node, started = self._node
        self._outcome = "failed"
        self.line(f"{node} ... {'interrupted' if interrupted else 'FAILED'} after "
                  f"{self._clock() - started:.1f} s")

    def _warning(self, record: logging.LogRecord) -> None:
        text = record.getMessage().rstrip().replace("\n", "\n    ")
        if getattr(record, NOTE, False):  # the data's notes, as `validate` prints them: each
            self.line(f"note: {text}")     # its own kind, so never capped (helper-71, -73)
            return
        site = (record.pathname, record.lineno)
        count = self._sites[site] = self._sites.get(site, 0) + 1
        if count > self._max_per_site + 1:
            return
        if count == self._max_per_site + 1:
            self.line("  (more warnings like the one above: see the full log)")
            return
        self.line(f"{record.levelname}: {text}")


def _fd_writer(fd: int) -> Callable[[str], None]:
    """Writes a line to `fd`, unbuffered; a closed console (EPIPE) does not stop the run."""
    def write(text: str) -> None:
        data = (text + "\n").encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError:
            pass
    return write


def _writes_to_std_streams(handler: logging.Handler) -> bool:
    """A handler whose stream is this process's stdout or stderr (e.g. the one logging's
    basicConfig sets up, or absl's)."""
    try:
        stream = getattr(handler, "stream", None)
    except Exception:  # pylint: disable=broad-except
        return False
    if stream is None:
        return False
    if any(stream is s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)):
        return True
    try:
        return stream.fileno() in (1, 2)
    except Exception:  # pylint: disable=broad-except
        return False


def _new_log(output_root: str) -> Tuple[str, int]:
    """Creates `<output_root>/logs/run-YYYYmmdd-HHMMSS[-N].log`; returns its path and an fd."""
    logs = os.path.join(output_root, "logs")
    os.makedirs(logs, exist_ok=True)
    stem = os.path.join(logs, time.strftime("run-%Y%m%d-%H%M%S"))
    for n in range(1, 1000):
        path = f"{stem}.log" if n == 1 else f"{stem}-{n}.log"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            continue
    raise FileExistsError(f"{stem}.log")


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # pylint: disable=broad-except
            pass


@contextlib.contextmanager
def quiet_run(output_root: str, verbose: bool = False) -> Iterator[Optional[str]]:
    """Yields the log file's path (None when `verbose`: nothing changes). See the module doc."""
    global _active_log
    if verbose or _active_log is not None:
        yield _active_log
        return
    path, log_fd = _new_log(output_root)
    _flush_std_streams()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = _fd_writer(saved_out)
    log_stream = os.fdopen(os.dup(log_fd), "w", buffering=1, encoding="utf-8",
                           errors="backslashreplace")
    file_handler = logging.StreamHandler(log_stream)
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    progress = ProgressHandler(console)
    root = logging.getLogger()
    detached = [h for h in root.handlers if _writes_to_std_streams(h)]
    level = root.level
    console(f"full log: {path}")
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        for h in detached:
            root.removeHandler(h)
        root.addHandler(file_handler)
        root.addHandler(progress)
        root.setLevel(logging.INFO)
        _active_log = path
        yield path
    except BaseException as e:
        progress.failed(interrupted=isinstance(e, KeyboardInterrupt))
        if getattr(e, "run_log", None) != path:
            _fd_writer(saved_err)(f"(full log: {path})")
        raise
    else:
        console(f"full log: {path}")
    finally:
        _active_log = None
        _flush_std_streams()
        root.removeHandler(progress)
        root.removeHandler(file_handler)
        for h in detached:
            root.addHandler(h)
        root.setLevel(level)
        log_stream.close()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)


# TensorFlow's start-up lines on a CPU machine: harmless (a GPU plugin registered twice, TensorRT
# absent, oneDNN and CPU-instruction notices), and not silenced by TF_CPP_MIN_LOG_LEVEL=2, which
# many users set (helper-66).
STARTUP_NOISE = ("Unable to register cuFFT factory", "Unable to register cuDNN factory",
                 "Unable to register cuBLAS factory", "TF-TRT Warning: Could not find TensorRT",
                 "oneDNN custom operations are on", "This TensorFlow binary is optimized to use",
                 "To enable the following instructions", "Could not find cuda drivers",
                 "Cannot dlopen some GPU libraries", "cuda_executor.cc", "Skipping registering GPU")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with file descriptor 2 captured, then writes back to stderr every line
    it printed but `STARTUP_NOISE`: for commands whose output is the answer (`predict`,
    `report`, `compile`); a real error while importing still shows, and is raised."""
    import tempfile
    _flush_std_streams()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (`2>&-` from cron): nothing to capture or to show
        import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        finally:
            _flush_std_streams()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if not any(noise in line for noise in STARTUP_NOISE)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")

"""The run lock across real processes: a second run exits at once; a SIGKILLed holder frees it."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.run_lock import AlreadyRunningError, run_lock

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time; from pipeline.run_lock import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(600)\n")


@contextlib.contextmanager
def _held_by(script: str, output_root):
    """A child process running `script` (which prints 'locked' once it holds the lock on
    `output_root`, its argv[1]); SIGKILLed on exit. Yields the Popen."""
    holder = subprocess.Popen([sys.executable, "-c", script, str(output_root)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_cli_run_on_locked_outputs_exits_3_at_once(tmp_path, tiny_image_tree):
    with run_lock(str(tmp_path)):
        started = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--set", f"data.root={tiny_image_tree}",
             "--set", f"output.root={tmp_path}"], cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=120)
        seconds = time.time() - started
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("error: a pipeline run is already running on")
    assert f"held by pid {os.getpid()}" in proc.stderr and "Traceback" not in proc.stderr
    assert seconds < 20  # before the TFX stack is imported
    assert sorted(os.listdir(tmp_path)) == [".run.lock"]  # nothing else touched


def test_lock_is_released_when_the_holder_is_sigkilled(tmp_path):
    with _held_by(HOLD, tmp_path) as holder:
        with pytest.raises(AlreadyRunningError, match=f"held by pid {holder.pid}"):
            with run_lock(str(tmp_path)):
                pass
    with run_lock(str(tmp_path)):  # the kernel released the flock with the process
        pass


def test_deleting_the_lock_file_does_not_defeat_the_lock(tmp_path):
    """The flock is on the output root itself: a user who deletes .run.lock, taking it for a
    stale lock, does not let a second run write the same outputs."""
    with _held_by(HOLD, tmp_path):
        os.remove(tmp_path / ".run.lock")
        with pytest.raises(AlreadyRunningError, match="held by a process whose pid is not "
                                                      "recorded: .*was deleted or emptied"):
            with run_lock(str(tmp_path)):
                pass


def test_a_run_of_the_older_file_lock_is_still_seen(tmp_path):
    """A run started before the directory lock existed holds only an flock on .run.lock: a new
    run must still see it (the file lock stays the primary one; NFS needs it)."""
    old = ("import fcntl, os, sys, time\n"
           "fd = os.open(os.path.join(sys.argv[1], '.run.lock'), os.O_RDWR | os.O_CREAT)\n"
           "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, str(os.getpid()).encode())\n"
           "print('locked', flush=True); time.sleep(600)\n")
    with _held_by(old, tmp_path) as holder:
        with pytest.raises(AlreadyRunningError, match=f"held by pid {holder.pid}"):
            with run_lock(str(tmp_path)):
                pass

"""modules/gzip_sizes.py: background gzip sizes equal gzip.compress's, per file and per
directory, in queue order, with a clear error for a file that is gone."""
import gzip
import os
import signal
import threading
import time

import numpy as np
import pytest

from modules.export import gzip_size
from modules.gzip_sizes import BackgroundGzip, files_under


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_sizes_equal_gzip_compress_for_files_and_directories(tmp_path):
    rng = np.random.default_rng(0)
    a = _write(tmp_path / "model" / "a.bin", b"x" * 100_000)
    b = _write(tmp_path / "model" / "sub" / "b.bin", rng.integers(0, 256, 50_000,
                                                                  dtype=np.uint8).tobytes())
    c = _write(tmp_path / "model.tflite", rng.integers(0, 8, 200_000, dtype=np.uint8).tobytes())
    with BackgroundGzip() as gz:
        gz.add("saved_model", str(tmp_path / "model"))
        gz.add("int8", str(tmp_path / "model.tflite"))
        sizes = gz.sizes()
    assert sizes == {"saved_model": gzip_size(a) + gzip_size(b), "int8": gzip_size(c)}
    assert sizes["int8"] == len(gzip.compress(c, compresslevel=6))
    # one job at a time, in queue order, each with its wall-clock window
    (k1, s1, e1), (k2, s2, e2) = gz.windows
    assert (k1, k2) == ("saved_model", "int8")
    assert s1 <= e1 <= s2 <= e2 <= time.time()


def test_level_is_passed_to_the_child(tmp_path):
    data = _write(tmp_path / "f.bin",
                  np.random.default_rng(1).integers(0, 4, 300_000, dtype=np.uint8).tobytes())
    with BackgroundGzip(level=1) as fast, BackgroundGzip(level=9) as best:
        fast.add("f", str(tmp_path / "f.bin"))
        best.add("f", str(tmp_path / "f.bin"))
        assert fast.sizes()["f"] == gzip_size(data, 1) > best.sizes()["f"] == gzip_size(data, 9)


def test_missing_and_vanished_files_are_named(tmp_path):
    with BackgroundGzip() as gz:
        with pytest.raises(FileNotFoundError, match="int8.*absent.tflite"):
            gz.add("int8", str(tmp_path / "absent.tflite"))
    path = tmp_path / "gone.tflite"
    _write(path, b"x")
    gz = BackgroundGzip()
    gz._pool.submit(time.sleep, 0.5)  # keeps the queue busy while the file disappears
    gz.add("gone", str(path))
    path.unlink()
    with pytest.raises(RuntimeError, match="gzip of .*gone.tflite failed"):
        gz.sizes()
    gz.close()


def _unblock_later(fifo, seconds):
    """Opens `fifo` for writing after `seconds` if a reader still waits on it (so that a
    regression fails the test instead of hanging it)."""
    def unblock():
        time.sleep(seconds)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader left: the child was killed
            pass
    threading.Thread(target=unblock, daemon=True).start()


def test_an_error_drops_queued_jobs_and_kills_the_running_child(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    os.mkfifo(blocked / "fifo")  # the child blocks opening it: a job that never ends by itself
    _unblock_later(str(blocked / "fifo"), 60)
    _write(tmp_path / "f.bin", b"x")
    with pytest.raises(KeyError, match="conversion failed"):
        with BackgroundGzip() as gz:
            gz.add("blocked", str(blocked))
            gz.add("queued", str(tmp_path / "f.bin"))
            deadline = time.time() + 60
            while gz._running is None and time.time() < deadline:
                time.sleep(0.01)
            raise KeyError("conversion failed")
    assert gz._running.returncode == -signal.SIGKILL
    assert gz._jobs["queued"].cancelled()


def test_a_key_is_queued_once(tmp_path):
    _write(tmp_path / "f.bin", b"x")
    with BackgroundGzip() as gz:
        gz.add("f", str(tmp_path / "f.bin"))
        with pytest.raises(ValueError, match="already queued"):
            gz.add("f", str(tmp_path / "f.bin"))


def test_files_under(tmp_path):
    _write(tmp_path / "d" / "b", b"1")
    _write(tmp_path / "d" / "a" / "c", b"2")
    assert files_under(str(tmp_path / "d")) == [str(tmp_path / "d" / "a" / "c"),
                                                str(tmp_path / "d" / "b")]
    assert files_under(str(tmp_path / "d" / "b")) == [str(tmp_path / "d" / "b")]

"""components/export_pusher/versioning.py: numbered, atomically published model versions."""
import os
import time

import pytest

from components.export_pusher import versioning
from components.export_pusher.versioning import (INCOMPLETE_PREFIX, list_versions,
                                                 make_staging_dir, next_version, publish,
                                                 remove_incomplete)


def _stage(serving, version, files=None, held=True):
    """A staging dir with files; `held=False`: as a killed push leaves it (no holder)."""
    staging = make_staging_dir(str(serving), version)
    for name, text in (files or {"saved_model/saved_model.pb": "pb", "report.json": "{}"}).items():
        path = os.path.join(staging, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    if not held:
        versioning.release(staging)
    return staging


def test_list_versions_ignores_non_digit_incomplete_and_files(tmp_path):
    for name in ("9", "10", "2", "abc", "v3", "7.tmp", "-4", f"{INCOMPLETE_PREFIX}11-x1y2"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert list_versions(str(tmp_path)) == [2, 9, 10]  # numeric, not lexicographic, order


def test_list_versions_of_missing_dir_is_empty(tmp_path):
    assert list_versions(str(tmp_path / "absent")) == []


def test_next_version_is_greater_than_existing(tmp_path):
    future = int(time.time()) + 10_000
    for v in (5, future, 100):
        (tmp_path / str(v)).mkdir()
    assert next_version(str(tmp_path)) == future + 1


def test_next_version_without_versions_is_unix_time(tmp_path):
    before = int(time.time())
    v = next_version(str(tmp_path / "absent"))
    assert before <= v <= int(time.time())
    (tmp_path / str(v)).mkdir()
    assert next_version(str(tmp_path)) > v  # even within the same second


def test_staging_dir_is_hidden_and_not_a_version(tmp_path):
    staging = _stage(tmp_path / "serving", 42)
    assert os.path.dirname(staging) == str(tmp_path / "serving")
    assert os.path.basename(staging) == f"{INCOMPLETE_PREFIX}42"
    assert list_versions(str(tmp_path / "serving")) == []


def test_publish_is_an_atomic_rename(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    staging = _stage(serving, 7)
    final = serving / "7"
    seen = {}
    real_rename = os.rename

    def spy_rename(src, dst):
        # at the moment of the rename the target does not exist and the staging dir is complete
        seen["target_existed"] = os.path.exists(dst)
        seen["staged"] = sorted(os.listdir(src))
        seen["args"] = (src, dst)
        return real_rename(src, dst)

    monkeypatch.setattr(versioning.os, "rename", spy_rename)
    assert not final.exists()
    assert publish(staging, str(serving), 7) == str(final)
    assert seen == {"target_existed": False, "staged": ["report.json", "saved_model"],
                    "args": (staging, str(final))}
    assert not os.path.exists(staging)
    assert (final / "saved_model" / "saved_model.pb").read_text() == "pb"
    assert list_versions(str(serving)) == [7]


def test_publish_failing_rename_leaves_no_version(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    staging = _stage(serving, 8)

    def broken_rename(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(versioning.os, "rename", broken_rename)
    with pytest.raises(OSError, match="disk full"):
        publish(staging, str(serving), 8)
    assert not (serving / "8").exists()
    assert list_versions(str(serving)) == []
    monkeypatch.undo()
    versioning.release(staging)  # as when the failed push's process is gone
    assert remove_incomplete(str(serving)) == [os.path.basename(staging)]


def test_publish_refuses_to_overwrite_existing_version(tmp_path):
    serving = tmp_path / "serving"
    first = publish(_stage(serving, 3, {"model.txt": "first"}), str(serving), 3)
    second = _stage(serving, 3, {"model.txt": "second"})
    with pytest.raises(FileExistsError, match="already exists"):
        publish(second, str(serving), 3)
    with open(os.path.join(first, "model.txt"), encoding="utf-8") as f:
        assert f.read() == "first"
    assert os.path.isdir(second)  # left for the caller to delete
    assert list_versions(str(serving)) == [3]


def test_remove_incomplete_removes_leftovers_but_never_complete_versions(tmp_path):
    serving = tmp_path / "serving"
    publish(_stage(serving, 1), str(serving), 1)
    leftover_a = _stage(serving, 2, held=False)
    leftover_b = _stage(serving, 3, held=False)
    (serving / "notes").mkdir()
    removed = remove_incomplete(str(serving))
    assert sorted(removed) == sorted([os.path.basename(leftover_a), os.path.basename(leftover_b)])
    assert sorted(os.listdir(serving)) == ["1", "notes"]
    assert (serving / "1" / "saved_model" / "saved_model.pb").read_text() == "pb"
    assert remove_incomplete(str(serving)) == []
    assert remove_incomplete(str(tmp_path / "absent")) == []


def test_a_push_in_progress_is_never_removed_and_its_version_never_reused(tmp_path):
    """Two output roots sharing one serving dir: the second push's cleanup must not delete the
    first's staging dir while the first builds it (only a held one; a killed push holds none),
    and a push starting in the same second gets the next version, not a FileExistsError after
    all its work."""
    import subprocess
    import sys
    serving = tmp_path / "serving"
    serving.mkdir()
    # another process reserves a version and holds it, like a push in progress
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
         "from components.export_pusher import versioning as v; "
         "print(v.reserve_version(sys.argv[2])[1], flush=True); time.sleep(60)",
         os.getcwd(), str(serving)], stdout=subprocess.PIPE, text=True)
    try:
        busy = other.stdout.readline().strip()
        assert os.path.isdir(busy)
        (tmp_path / "serving" / f"{INCOMPLETE_PREFIX}5").mkdir()  # a killed push's leftover
        assert remove_incomplete(str(serving)) == [f"{INCOMPLETE_PREFIX}5"]
        assert os.path.isdir(busy), "removed the staging dir of a push in progress"
        taken = int(os.path.basename(busy)[len(INCOMPLETE_PREFIX):])
        version, mine = versioning.reserve_version(str(serving))
        assert version > taken and mine != busy
        versioning.discard(mine)
        assert not os.path.exists(mine)
    finally:
        other.kill()
        other.wait()
    assert remove_incomplete(str(serving)) == [os.path.basename(busy)]  # its holder is gone


def test_a_full_disk_while_building_a_version_is_named_with_the_serving_dir(tmp_path):
    """ENOSPC (or TensorFlow's 'No space left on device') names no path: the pusher re-raises
    it as a ServingSpaceError naming the serving dir, the version and the free space."""
    import errno
    full = versioning.no_space_error(OSError(errno.ENOSPC, "No space left on device"),
                                     str(tmp_path), 17)
    assert isinstance(full, versioning.ServingSpaceError)
    assert str(full).startswith(f"no space left on the file system of {tmp_path} while "
                                f"building version 17 (")
    assert "MB free now" in str(full) and "pushed versions are unchanged" in str(full)
    tf_error = RuntimeError("...variables.data-00000-of-00001; No space left on device")
    assert versioning.no_space_error(tf_error, str(tmp_path), 3) is not None
    assert versioning.no_space_error(OSError(errno.EACCES, "denied"), str(tmp_path), 3) is None


def test_a_serving_dir_that_refuses_writes_mid_build_is_named_whatever_api_failed(tmp_path):
    """review h63: the SavedModel copy writes through TensorFlow's file API, whose
    PermissionDeniedError is not an OSError; and a permission error on another path (the
    pipeline root, TMPDIR) is not blamed on the serving dir."""
    import errno

    import tensorflow as tf
    serving = str(tmp_path / "serving")
    tf_error = tf.errors.PermissionDeniedError(
        None, None, f"{serving}/.incomplete-5/saved_model/variables; Permission denied")
    denied = versioning.not_writable_error(tf_error, serving, 5)
    assert isinstance(denied, versioning.ServingNotWritableError)
    assert str(denied).startswith(f"cannot write version 5 into {serving} (")
    os_error = OSError(errno.EROFS, "Read-only file system", f"{serving}/.incomplete-5")
    assert versioning.not_writable_error(os_error, serving, 5) is not None
    elsewhere = OSError(errno.EACCES, "Permission denied", str(tmp_path / "pipeline_root" / "m"))
    assert versioning.not_writable_error(elsewhere, serving, 5) is None
    assert versioning.not_writable_error(tf.errors.PermissionDeniedError(
        None, None, "/tmp/x; Permission denied"), serving, 5) is None
    assert versioning.not_writable_error(OSError(errno.ENOSPC, "full", serving), serving, 5) \
        is None


def test_a_staging_dir_removed_before_it_was_held_is_not_built_in(tmp_path, monkeypatch):
    """Between mkdir and flock another root's cleanup can take the new dir and remove it: the
    reservation then tries again instead of building in a path no one holds."""
    import fcntl
    serving = tmp_path / "serving"
    real_flock, calls = fcntl.flock, []

    def flock_after_a_cleanup(fd, op):
        if not calls:  # the first reservation loses its dir to a cleanup in the gap
            calls.append(fd)
            for name in os.listdir(serving):
                os.rmdir(serving / name)
        return real_flock(fd, op)
    monkeypatch.setattr(versioning.fcntl, "flock", flock_after_a_cleanup)
    version, staging = versioning.reserve_version(str(serving))
    assert calls and os.path.isdir(staging)
    assert os.stat(staging).st_ino == os.fstat(versioning._HELD[staging]).st_ino
    versioning.discard(staging)


def test_a_probe_holding_a_new_staging_dir_for_a_moment_does_not_fail_the_reservation(
        tmp_path, monkeypatch):
    """helper-77: `incomplete_dirs` (the summary) takes a shared lock on each staging dir for a
    moment; a push whose fresh dir it held then failed its non-blocking lock and left the
    empty dir behind. The push now waits the moment out; a lock held longer fails the
    reservation of that version without leaving its empty dir."""
    import fcntl
    serving = tmp_path / "serving"
    real_flock, refused = fcntl.flock, []

    def busy_twice(fd, op):
        if op & fcntl.LOCK_EX and len(refused) < 2:
            refused.append(fd)
            raise BlockingIOError
        return real_flock(fd, op)
    monkeypatch.setattr(versioning.fcntl, "flock", busy_twice)
    version, staging = versioning.reserve_version(str(serving))
    assert len(refused) == 2 and os.listdir(serving) == [os.path.basename(staging)]
    versioning.discard(staging)

    def always_busy(fd, op):
        if op & fcntl.LOCK_EX:
            raise BlockingIOError
        return real_flock(fd, op)
    monkeypatch.setattr(versioning.fcntl, "flock", always_busy)
    monkeypatch.setattr(versioning.time, "sleep", lambda s: None)
    with pytest.raises(BlockingIOError):
        versioning.make_staging_dir(str(serving), 7)
    assert not os.path.exists(serving / ".incomplete-7")

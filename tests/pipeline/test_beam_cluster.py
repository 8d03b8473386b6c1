"""The local Beam portable stack: start / status / stop through the CLI entry, and the timeout
guard that turns "SDK workers cannot start" (a ~300 s hang in Beam) into a prompt, clear error."""
import os
import time

import pytest

from pipeline import beam_cluster as bc


def _gone(pid, wait=10.0):
    deadline = time.time() + wait
    while time.time() < deadline:
        if not bc._alive(pid):
            return True
        time.sleep(0.2)
    return False


def test_cli_start_status_stop(tmp_path, capsys):
    state = str(tmp_path / "stack")
    assert bc.main("start", state, smoke_timeout=120) == 0
    out = capsys.readouterr().out
    cluster = bc.load_state(state)
    assert cluster is not None
    assert f"--set beam.portable.job_endpoint={cluster.job_endpoint}" in out
    assert f"--set beam.portable.environment_config={cluster.worker_pool}" in out
    try:
        assert bc.main("status", state) == 0
        assert "healthy" in capsys.readouterr().out
        # A second stack on the same state dir is refused while the first runs.
        with pytest.raises(bc.BeamClusterError, match="already running"):
            bc.start(state)
    finally:
        assert bc.main("stop", state) == 0
    assert _gone(cluster.worker_pool_pid) and _gone(cluster.job_service_pid)
    assert bc.load_state(state) is None
    assert bc.main("status", state) == 1


def test_workers_that_cannot_start_fail_fast_not_after_300_s(tmp_path):
    """The pool starts SDK workers with plain `python`: a PATH whose `python` is broken makes
    Beam's job wait for a worker forever; the smoke job's deadline turns it into an error."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "python"
    fake.write_text("#!/bin/sh\necho 'not the venv python' >&2\nexit 1\n")
    fake.chmod(0o755)
    started = time.time()
    with pytest.raises(bc.BeamClusterError, match=r"did not finish within 25 s") as info:
        bc.start(str(tmp_path / "stack"), extra_env={"PATH": f"{fake_bin}:/usr/bin:/bin"},
                 smoke_timeout=25)
    assert time.time() - started < 120
    assert "PATH" in str(info.value)
    assert bc.load_state(str(tmp_path / "stack")) is None  # stopped what it started


def test_health_check_names_a_dead_process(tmp_path):
    with bc.beam_cluster(state_dir=str(tmp_path / "s"), smoke_timeout=0) as cluster:
        os.killpg(cluster.job_service_pid, 9)
        assert _gone(cluster.job_service_pid)
        with pytest.raises(bc.BeamClusterError, match="job service .* exited"):
            bc.health_check(cluster, timeout=5)
    assert _gone(cluster.worker_pool_pid)


def test_preflight_names_an_unreachable_job_endpoint():
    port = bc.free_port()  # nothing listens there
    args = ["--runner=PortableRunner", f"--job_endpoint=localhost:{port}",
            "--environment_type=EXTERNAL", "--environment_config=localhost:1"]
    started = time.time()
    with pytest.raises(bc.BeamClusterError,
                       match=rf"job service \(beam.portable.job_endpoint\) localhost:{port} is "
                             r"not reachable within 2 s"):
        bc.preflight(args, connect_timeout=2)
    assert time.time() - started < 10

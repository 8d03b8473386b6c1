"""The local Beam portable stack: start / status / stop through the CLI entry, the timeout
guard that turns "SDK workers cannot start" (a ~300 s hang in Beam) into a prompt, clear error,
and its listening sockets (from /proc): loopback only unless beam.portable.bind_address says
otherwise."""
import contextlib
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
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


# ------------------------------------------------- nothing listens beyond loopback unless asked

def _proc_listeners():
    """{socket inode: (ip, port)} of every listening TCP socket on this machine, from
    /proc/net/tcp and /proc/net/tcp6 (addresses are 32-bit words in host byte order)."""
    listeners = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path, encoding="utf-8") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], int(fields[9])
                if state != "0A":  # TCP_LISTEN
                    continue
                hex_ip, hex_port = local.split(":")
                raw = bytes.fromhex(hex_ip)
                if sys.byteorder == "little":
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                listeners[inode] = (ipaddress.ip_address(raw), int(hex_port, 16))
    return listeners


def _descendants(pids):
    """`pids` and all their descendant processes (from /proc/<pid>/stat's ppid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def _listening_sockets(pids):
    """[(pid, ip, port)] of every listening TCP socket held open by one of `pids`."""
    listeners, held = _proc_listeners(), []
    for pid in sorted(pids):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inode = int(target[len("socket:["):-1])
                        if inode in listeners:
                            held.append((pid, *listeners[inode]))
    return held


def _is_loopback(ip):
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # ::ffff:127.0.0.1
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _non_loopback_addresses():
    """This machine's own non-loopback IP addresses (`ip addr`; else the UDP-connect trick)."""
    found = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=10).stdout
        for _, address, scope in re.findall(r"\b(inet6?) (\S+)/\d+ .*?scope (\w+)", out):
            if scope == "global":
                found.append(address)
    if not found:
        for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
            with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))  # no packet is sent: only picks the outgoing address
                found.append(s.getsockname()[0])
    return [a for a in dict.fromkeys(found) if not _is_loopback(ipaddress.ip_address(a))]


def _connect(address, port, timeout=3.0):
    """'refused', or 'accepted' / the error name."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "accepted"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return type(e).__name__


# Holds one element in its SDK worker until `release` exists, so that the job's servers (in the
# job service) and the SDK worker process are all alive while the sockets are listed.
HOLD_JOB = """
import sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

def hold(x, marker, release):
    import os, time
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.time() + 120
    while not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.2)
    return x

with beam.Pipeline(options=PipelineOptions(sys.argv[3:])) as p:
    p | beam.Create([1]) | beam.Map(hold, sys.argv[1], sys.argv[2])
"""


def _wait_for(path, proc, timeout=120.0):
    deadline = time.time() + timeout
    while not os.path.exists(path) or not path.read_text():
        assert proc.poll() is None, f"job exited early: {proc.communicate()[1][-3000:]}"
        assert time.time() < deadline, f"{path} not written within {timeout:.0f} s"
        time.sleep(0.2)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp6"), reason="needs Linux /proc/net")
def test_the_stack_listens_on_loopback_only_and_refuses_other_addresses(tmp_path):
    """Real sockets, while a job runs: the worker pool, the job service (Job API + artifact
    staging) and the job's own control/data/state/logging servers, plus the SDK worker process,
    listen on loopback only, and connecting to this machine's other addresses is refused."""
    addresses = _non_loopback_addresses()
    marker, release = tmp_path / "running", tmp_path / "release"
    with bc.beam_cluster(state_dir=str(tmp_path / "s"), smoke_timeout=0) as cluster:
        job = subprocess.Popen([sys.executable, "-c", HOLD_JOB, str(marker), str(release)]
                               + cluster.pipeline_args(), env=bc.worker_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(marker, job)
            worker_pid = int(marker.read_text())
            pids = _descendants([cluster.worker_pool_pid, cluster.job_service_pid])
            assert worker_pid in pids, "the SDK worker is a child of the worker pool"
            held = _listening_sockets(pids)
            ports = {port for _, _, port in held}
            pool_port = int(cluster.worker_pool.rsplit(":", 1)[1])
            job_port = int(cluster.job_endpoint.rsplit(":", 1)[1])
            assert {pool_port, job_port} <= ports, held
            # The running job's control, data, state and logging servers were seen too.
            job_ports = {port for pid, _, port in held if pid == cluster.job_service_pid}
            assert len(job_ports - {job_port}) >= 4, held
            assert [h for h in held if not _is_loopback(h[1])] == [], held
            if not addresses:
                pytest.skip("loopback verified; this machine has no non-loopback address to "
                            "try connecting to")
            refused = {(a, p): _connect(a, p) for a in addresses for p in sorted(ports)}
            assert set(refused.values()) == {"refused"}, refused
            # ... while the same ports accept on loopback.
            assert _connect("127.0.0.1", pool_port) == "accepted"
            assert _connect("127.0.0.1", job_port) == "accepted"
        finally:
            release.write_text("go")
            try:
                _, err = job.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                job.kill()
                raise
    assert job.returncode == 0, err[-3000:]


def test_opening_the_service_ports_is_explicit_and_warned(tmp_path, capsys):
    """beam.portable.bind_address=<an address of this machine>: the pool and the Job API accept
    there (with a warning), the job's internal servers stay on loopback."""
    addresses = [a for a in _non_loopback_addresses() if ":" not in a]
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to open the ports on")
    with bc.beam_cluster(state_dir=str(tmp_path / "s"), smoke_timeout=60,
                         bind_address=addresses[0]) as cluster:
        err = capsys.readouterr().err
        assert f"listen(s) on {addresses[0]}" in err and "WITHOUT authentication" in err
        assert "UNAUTHENTICATED" in bc.describe(cluster)
        for endpoint in (cluster.worker_pool, cluster.job_endpoint):
            port = int(endpoint.rsplit(":", 1)[1])
            assert _connect(addresses[0], port) == "accepted"
            assert _connect("127.0.0.1", port) == "accepted"
        held = _listening_sockets(_descendants([cluster.worker_pool_pid,
                                                cluster.job_service_pid]))
        exposed = {port for _, ip, port in held if not _is_loopback(ip)}
        assert exposed == {int(e.rsplit(":", 1)[1])
                           for e in (cluster.worker_pool, cluster.job_endpoint)}, held
        assert "bound on 127.0.0.1:" in open(cluster.job_service_log, encoding="utf-8").read()


@pytest.mark.parametrize("value", ["example.org", "0.0.0.0:80", "localhost.evil"])
def test_bind_address_must_be_loopback_or_an_ip(tmp_path, value):
    with pytest.raises(bc.BeamClusterError, match="beam.portable.bind_address: expected"):
        bc.start(str(tmp_path / "s"), bind_address=value)
    assert not (tmp_path / "s").exists()  # refused before anything started


def test_launcher_hook_rewrites_wildcard_binds_to_loopback(monkeypatch):
    """In-process: after `install_bind_hook`, a server asking for '[::]:0' (what Beam asks for)
    is bound on loopback only; the service's own port may add the configured address."""
    from concurrent import futures

    import grpc

    from pipeline import beam_launcher
    monkeypatch.setattr(grpc, "server", grpc.server)  # restored after the test
    beam_launcher.install_bind_hook(public_port=bc.free_port())
    beam_launcher.install_bind_hook(public_port=1)  # idempotent: the first hook stays
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        port = server.add_insecure_port("[::]:0")
        server.start()
        assert port > 0
        held = [(ip, p) for _, ip, p in _listening_sockets({os.getpid()}) if p == port]
        assert held and all(_is_loopback(ip) for ip, _ in held), held
        for address in _non_loopback_addresses():
            assert _connect(address, port) == "refused"
    finally:
        server.stop(0)
    assert beam_launcher.bind_hosts(True, "localhost") == ["127.0.0.1", "::1"]
    assert beam_launcher.bind_hosts(False, "0.0.0.0") == ["127.0.0.1", "::1"]
    assert beam_launcher.bind_hosts(True, "0.0.0.0") == ["0.0.0.0"]
    assert beam_launcher.bind_hosts(True, "10.1.2.3") == ["127.0.0.1", "::1", "10.1.2.3"]
    assert beam_launcher.check_bind_address("[::]") == "::"


def test_a_state_dir_of_another_user_is_refused(tmp_path, monkeypatch):
    """The default state dir has a fixed name under /tmp: a directory planted there by another
    user (its cluster.json names the process groups `stop` signals) is not used."""
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(bc.BeamClusterError, match="not to this user"):
        bc.start(str(tmp_path / "s"), smoke_timeout=0)
    assert not (tmp_path / "s" / bc.STATE_FILE).exists()


def _planted_state(state_dir, worker_pool_pid, job_service_pid, endpoint="localhost:1",
                   **started):
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, bc.STATE_FILE), "w", encoding="utf-8") as f:
        json.dump({"job_endpoint": endpoint, "worker_pool": "localhost:2",
                   "staging_dir": os.path.join(state_dir, "staging"),
                   "worker_pool_pid": worker_pool_pid, "job_service_pid": job_service_pid,
                   "worker_pool_log": "x", "job_service_log": "y", **started}, f)


def test_stop_and_status_refuse_a_state_dir_others_can_write_or_a_link(tmp_path, capsys):
    """`stop` signals the process groups cluster.json names and `status` prints its job
    endpoint: a state dir anyone can write (a planted /tmp/tfx-beam-cluster), or a link that
    could be re-pointed after the check, is refused by every action, not only `start`."""
    state = tmp_path / "shared"
    _planted_state(str(state), 999999, 999998, endpoint="localhost:6666")
    os.chmod(state, 0o777)
    for action in ("status", "stop"):
        assert bc.main(action, str(state)) == 1
        err = capsys.readouterr().err
        assert "writable by other users (mode 777)" in err and str(state) in err
    os.chmod(state, 0o700)
    link = tmp_path / "link"
    link.symlink_to(state)
    assert bc.main("status", str(link)) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert bc.main("stop", str(tmp_path / "never-made")) == 0  # nothing recorded: nothing to do


def test_stop_never_signals_a_recorded_pid_that_is_not_the_stack(tmp_path, capsys):
    """A pid in cluster.json that now belongs to another program (the stack died, the pid was
    reused, or the file was forged) is left alone: only `pipeline.beam_launcher` processes are
    signalled."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        state = tmp_path / "stack"
        _planted_state(str(state), other.pid, other.pid)
        assert bc.main("stop", str(state)) == 0
        assert "is not running (its processes are gone); nothing signalled" in \
            capsys.readouterr().out
        time.sleep(0.5)
        assert other.poll() is None, "stop killed a process that is not the Beam stack"
        # a recorded start time that is not this process's (the pid was reused): left alone
        started = bc._start_time(other.pid)
        _planted_state(str(state), other.pid, other.pid, worker_pool_started=started + 1,
                       job_service_started=started + 1)
        assert bc.main("stop", str(state)) == 0
        time.sleep(0.5)
        assert other.poll() is None, "stop killed a process whose start time differs"
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="start times come from /proc")
def test_stop_still_stops_the_group_of_a_leader_that_died(tmp_path, capsys):
    """The worker pool's leader crashed (a zombie: `up` had not reaped it yet) while its SDK
    workers, in its process group, run on: its recorded start time still matches, so `stop`
    signals the group and the workers go too."""
    leader = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
         "'import time; time.sleep(60)']); print('spawned', flush=True)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert leader.stdout.readline().strip() == "spawned"
    started = bc._start_time(leader.pid)
    deadline = time.time() + 10  # the leader exits and stays a zombie (not reaped here)
    while bc._alive(leader.pid) and time.time() < deadline:
        time.sleep(0.1)
    worker = [int(p) for p in os.listdir("/proc") if p.isdigit()
              and bc._start_time(int(p)) is not None and _pgid(int(p)) == leader.pid
              and int(p) != leader.pid]
    assert worker, "the worker in the leader's group was not found"
    state = tmp_path / "stack"
    _planted_state(str(state), leader.pid, leader.pid, worker_pool_started=started,
                   job_service_started=started)
    try:
        assert bc.main("stop", str(state)) == 0
        assert "stopped job service" in capsys.readouterr().out
        assert all(_gone(pid) for pid in worker)
    finally:
        for pid in worker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        leader.wait()


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


# What `python -m pipeline run` does before running (pipeline/__main__.py), then a Beam job whose
# FnApiRunner starts SDK worker subprocesses and its control/data/state/logging servers in this
# driver process (what beam.extra_args=[--direct_running_mode=multi_processing] would do).
DRIVER_JOB = """
import sys
from pipeline.beam_launcher import install_bind_hook
install_bind_hook(public_port=0)
""" + HOLD_JOB


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp6"), reason="needs Linux /proc/net")
def test_beam_servers_in_the_driver_process_bind_loopback_too(tmp_path):
    marker, release = tmp_path / "running", tmp_path / "release"
    args = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
            "--direct_num_workers=1"]
    job = subprocess.Popen([sys.executable, "-c", DRIVER_JOB, str(marker), str(release)] + args,
                           env=bc.worker_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(marker, job)
        pids = _descendants([job.pid])
        assert int(marker.read_text()) in pids - {job.pid}, "the SDK worker is a subprocess"
        held = _listening_sockets(pids)
        assert len({port for pid, _, port in held if pid == job.pid}) >= 4, held
        assert [h for h in held if not _is_loopback(h[1])] == [], held
        for address in _non_loopback_addresses():
            assert {_connect(address, port) for _, _, port in held} == {"refused"}
    finally:
        release.write_text("go")
        try:
            _, err = job.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            job.kill()
            raise
    assert job.returncode == 0, err[-3000:]

"""A local Beam portable stack: an EXTERNAL worker pool + a job service on free loopback ports.

    with beam_cluster() as cluster:        # started, health-checked, smoke-tested
        config = load_config(overrides=cluster.overrides())
    # both process groups are stopped here

CLI: `python -m pipeline beam-cluster up|start|stop|status [--state-dir DIR]
[--set beam.portable.bind_address=ADDR]`.
The worker pool starts SDK workers as plain `python` processes, so the venv's bin directory is put
first on their PATH (they import this project because it is pip-installed editable in the venv).
If a worker cannot start, Beam's job waits ~300 s before failing; `smoke_test` runs a 3-element
job on the stack under a deadline instead, so a broken stack fails in seconds with the logs named.
Both services are started through `pipeline.beam_launcher`, which binds every gRPC port they open
(and the per-job servers inside the job service) to loopback; `bind_address` (config
beam.portable.bind_address) additionally opens the two service ports on another address, with a
warning: they are unauthenticated (docs/security.md).
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import signal
import stat
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

from pipeline.beam_launcher import (LOOPBACK, check_bind_address, is_loopback, join_host_port,
                                    unauthenticated_warning)

DEFAULT_STATE_DIR = os.path.join(tempfile.gettempdir(), "tfx-beam-cluster")
STATE_FILE = "cluster.json"


class BeamClusterError(RuntimeError):
    """The portable stack did not start, is not healthy, or could not run a job in time."""


@dataclass
class BeamCluster:
    """Addresses, process ids (each its own process group) and log files of a running stack."""
    job_endpoint: str                      # localhost:P2, the Job API (PortableRunner target)
    worker_pool: str                       # localhost:P1, the EXTERNAL environment_config
    staging_dir: str
    worker_pool_pid: int
    job_service_pid: int
    worker_pool_log: str
    job_service_log: str
    bind_address: str = LOOPBACK           # where the two ports listen besides loopback
    # each leader's start time (clock ticks after boot, /proc/<pid>/stat): a recorded pid is
    # signalled only while it is still that process (0: unknown, an older cluster.json)
    worker_pool_started: int = 0
    job_service_started: int = 0

    def exposed(self) -> bool:
        """Whether the two service ports are open beyond loopback (beam.portable.bind_address)."""
        return not is_loopback(self.bind_address)

    def overrides(self) -> List[str]:
        """`--set` items selecting this stack: `beam.runner=portable` and its two addresses."""
        return ["beam.runner=portable", f"beam.portable.job_endpoint={self.job_endpoint}",
                "beam.portable.environment_type=EXTERNAL",
                f"beam.portable.environment_config={self.worker_pool}"]

    def pipeline_args(self) -> List[str]:
        """The Beam flags for this stack (what `beam_pipeline_args` derives from `overrides`)."""
        return ["--runner=PortableRunner", f"--job_endpoint={self.job_endpoint}",
                "--environment_type=EXTERNAL", f"--environment_config={self.worker_pool}",
                "--sdk_worker_parallelism=1"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(extra_env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment of the stack: this interpreter's bin dir first on PATH, legacy Keras."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra_env or {})
    return env


def _spawn(cmd: List[str], log_path: str, env: Dict[str, str]) -> subprocess.Popen:
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def health_check(cluster: BeamCluster, timeout: float = 30.0) -> None:
    """Both processes alive and both gRPC servers accepting within `timeout` s, or BeamClusterError."""
    import grpc
    for name, pid, address, log in (
            ("worker pool", cluster.worker_pool_pid, cluster.worker_pool, cluster.worker_pool_log),
            ("job service", cluster.job_service_pid, cluster.job_endpoint,
             cluster.job_service_log)):
        deadline = time.time() + timeout
        while True:
            if not _alive(pid):
                raise BeamClusterError(f"{name} (pid {pid}) exited; last lines of {log}:\n"
                                       f"{_tail(log)}")
            channel = grpc.insecure_channel(address)
            try:
                grpc.channel_ready_future(channel).result(timeout=min(2.0, timeout))
                break
            except grpc.FutureTimeoutError:
                if time.time() > deadline:
                    raise BeamClusterError(f"{name} at {address} not accepting after {timeout:.0f} "
                                           f"s; see {log}") from None
            finally:
                channel.close()


SMOKE_JOB = """
import sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
with beam.Pipeline(options=PipelineOptions(sys.argv[1:])) as p:
    assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2), equal_to([2, 4, 6]))
"""


def smoke_test(pipeline_args: List[str], timeout: float = 120.0, log_hint: str = "") -> float:
    """Runs a 3-element job with `pipeline_args` in a subprocess; seconds taken, or
    BeamClusterError after `timeout` s (a worker that cannot start would otherwise hang the job
    ~300 s). `log_hint`: the worker pool's log file, quoted in the error."""
    started = time.time()
    cmd = [sys.executable, "-c", SMOKE_JOB] + list(pipeline_args)
    endpoint = next((a.split("=", 1)[1] for a in pipeline_args
                     if a.startswith("--job_endpoint=")), "?")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=worker_env())
    except subprocess.TimeoutExpired:
        tail = f"\nworker pool log {log_hint}:\n{_tail(log_hint)}" if log_hint else ""
        raise BeamClusterError(
            f"a 3-element smoke job on {endpoint} did not finish within {timeout:.0f} s: SDK "
            f"workers probably cannot start (is `python` on the worker pool's PATH the venv's "
            f"python?){tail}") from None
    if proc.returncode != 0:
        raise BeamClusterError(f"smoke job on {endpoint} failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-2000:]}")
    return time.time() - started


def _flag(pipeline_args: List[str], name: str) -> str:
    return next((a.split("=", 1)[1] for a in pipeline_args if a.startswith(f"--{name}=")), "")


def preflight(pipeline_args: List[str], connect_timeout: float = 10.0,
              smoke_timeout: float = 120.0) -> None:
    """Before a portable run: the job endpoint (and an EXTERNAL worker pool) accept gRPC within
    `connect_timeout` s, then a smoke job finishes within `smoke_timeout` s; else
    BeamClusterError naming what is unreachable."""
    import grpc
    targets = [("job service (beam.portable.job_endpoint)", _flag(pipeline_args, "job_endpoint"))]
    if _flag(pipeline_args, "environment_type") == "EXTERNAL":
        targets.append(("worker pool (beam.portable.environment_config)",
                        _flag(pipeline_args, "environment_config")))
    for name, address in targets:
        channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(channel).result(timeout=connect_timeout)
        except grpc.FutureTimeoutError:
            raise BeamClusterError(f"{name} {address} is not reachable within "
                                   f"{connect_timeout:.0f} s; start a stack with `python -m "
                                   f"pipeline beam-cluster start` and use the addresses it "
                                   f"prints") from None
        finally:
            channel.close()
    smoke_test(pipeline_args, smoke_timeout)


def _check_owned(state_dir: str) -> None:
    """The state dir (default: a fixed name under /tmp) must be a real directory of this user's
    that no one else can write: its cluster.json names the process groups `stop` signals and
    the job endpoint `status` prints, and jobs stage their artifacts under it. Checked on every
    action, without following a symbolic link (one could be re-pointed after the check)."""
    info = os.lstat(state_dir)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise BeamClusterError(f"{state_dir} is {what}, not a directory of this user's; use "
                               f"--state-dir DIR with a directory of your own")
    if info.st_uid != os.getuid():
        raise BeamClusterError(f"{state_dir} belongs to uid {info.st_uid}, not to this user; use "
                               f"--state-dir DIR with a directory of your own")
    if info.st_mode & 0o022:
        raise BeamClusterError(f"{state_dir} is writable by other users (mode "
                               f"{stat.S_IMODE(info.st_mode):o}); chmod go-w it or use "
                               f"--state-dir DIR with a directory of your own")


def _start_time(pid: int) -> Optional[int]:
    """Process `pid`'s start time (clock ticks after boot; kept by a zombie, new for a reused
    pid), or None without /proc or without such a process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_ours(pid: int, started: int) -> bool:
    """Whether `pid` is still the stack leader `start` spawned: the same start time (a leader
    that died stays ours as a zombie, so its process group, SDK workers included, is still
    stopped; a pid reused by another program after a reboot is not). Without a recorded start
    time (an older cluster.json) or without /proc: the process runs `pipeline.beam_launcher`."""
    now = _start_time(pid)
    if started and now is not None:
        return now == started
    if now is None and os.path.isdir("/proc"):
        return False  # no such process
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        try:
            command = subprocess.run(["ps", "-o", "command=", "-p", str(pid)],
                                     capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return "pipeline.beam_launcher" in command


def start(state_dir: str, extra_env: Optional[Dict[str, str]] = None,
          startup_timeout: float = 60.0, smoke_timeout: float = 120.0,
          bind_address: str = LOOPBACK) -> BeamCluster:
    """Starts worker pool + job service (own process groups), health-checks and smoke-tests them;
    writes `<state_dir>/cluster.json`. Stops what it started if any check fails.
    Every port listens on loopback only, unless `bind_address` (an IP of this machine, or
    0.0.0.0 / ::) opens the two service ports there too: unauthenticated, a warning is printed."""
    try:
        bind_address = check_bind_address(bind_address)
    except ValueError as e:
        raise BeamClusterError(f"beam.portable.bind_address: {e}") from None
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    _check_owned(state_dir)
    state_path = os.path.join(state_dir, STATE_FILE)
    if os.path.exists(state_path):
        old = load_state(state_dir)
        if old is not None and any(_alive(pid) and _is_ours(pid, started) for pid, started in (
                (old.worker_pool_pid, old.worker_pool_started),
                (old.job_service_pid, old.job_service_started))):
            raise BeamClusterError(f"a stack is already running from {state_path} (job endpoint "
                                   f"{old.job_endpoint}); stop it first")
    env = worker_env(extra_env)
    staging = os.path.join(state_dir, "staging")
    os.makedirs(staging, mode=0o700, exist_ok=True)
    pool_port, job_port = free_port(), free_port()
    while job_port == pool_port:
        job_port = free_port()
    pool_log = os.path.join(state_dir, "worker_pool.log")
    job_log = os.path.join(state_dir, "job_service.log")
    if not is_loopback(bind_address):
        print(unauthenticated_warning(bind_address, f"the worker pool (port {pool_port}) and "
                                      f"the job service (port {job_port})"), file=sys.stderr)
    launcher = [sys.executable, "-m", "pipeline.beam_launcher"]
    pool = _spawn(launcher + ["worker-pool", "--port", str(pool_port),
                              "--bind-address", bind_address], pool_log, env)
    job = _spawn(launcher + ["job-service", "--port", str(job_port), "--staging-dir", staging,
                             "--bind-address", bind_address], job_log, env)
    cluster = BeamCluster(job_endpoint=f"localhost:{job_port}",
                          worker_pool=f"localhost:{pool_port}", staging_dir=staging,
                          worker_pool_pid=pool.pid, job_service_pid=job.pid,
                          worker_pool_log=pool_log, job_service_log=job_log,
                          bind_address=bind_address,
                          worker_pool_started=_start_time(pool.pid) or 0,
                          job_service_started=_start_time(job.pid) or 0)
    with open(state_path, "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(cluster), f, indent=2)
    try:
        health_check(cluster, startup_timeout)
        if smoke_timeout > 0:
            smoke_test(cluster.pipeline_args(), smoke_timeout, cluster.worker_pool_log)
    except BaseException:
        stop(cluster)
        raise
    return cluster


def stop(cluster: BeamCluster, grace: float = 10.0) -> None:
    """SIGTERM to both process groups (the pool's SDK workers are in the pool's group), then
    SIGKILL after `grace` s; removes the state file if it describes this stack."""
    pids = [pid for pid, started in ((cluster.worker_pool_pid, cluster.worker_pool_started),
                                     (cluster.job_service_pid, cluster.job_service_started))
            if _is_ours(pid, started)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.time() + grace
    for pid in pids:
        while time.time() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not _alive(pid):
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    state_path = os.path.join(os.path.dirname(cluster.staging_dir), STATE_FILE)
    with contextlib.suppress(OSError):
        with open(state_path, encoding="utf-8") as f:
            if json.load(f).get("job_service_pid") == cluster.job_service_pid:
                os.remove(state_path)


def load_state(state_dir: str) -> Optional[BeamCluster]:
    """The stack recorded in `<state_dir>/cluster.json`, or None (none recorded, or unreadable).
    BeamClusterError if the state dir or the file is not this user's own (`_check_owned`; the
    file is opened without following a link and must belong to this user)."""
    if not os.path.lexists(state_dir):
        return None
    _check_owned(state_dir)
    try:
        fd = os.open(os.path.join(state_dir, STATE_FILE), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BeamClusterError(f"{os.path.join(state_dir, STATE_FILE)} is a symbolic link; "
                                   f"not trusted (remove it)") from None
        return None
    with os.fdopen(fd, encoding="utf-8") as f:
        owner = os.fstat(f.fileno()).st_uid
        if owner != os.getuid():
            raise BeamClusterError(f"{os.path.join(state_dir, STATE_FILE)} belongs to uid "
                                   f"{owner}, not to this user; not trusted")
        try:
            return BeamCluster(**json.load(f))
        except (ValueError, TypeError):
            return None


@contextlib.contextmanager
def beam_cluster(state_dir: Optional[str] = None, extra_env: Optional[Dict[str, str]] = None,
                 startup_timeout: float = 60.0, smoke_timeout: float = 120.0,
                 bind_address: str = LOOPBACK) -> Iterator[BeamCluster]:
    """A started, healthy stack for the `with` block; stopped (process groups) on exit."""
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="beam-cluster-"))
        cluster = start(state_dir, extra_env, startup_timeout, smoke_timeout, bind_address)
        try:
            yield cluster
        finally:
            stop(cluster)


def describe(cluster: BeamCluster) -> str:
    """What to pass to `python -m pipeline run` (and the YAML equivalent) to use the stack."""
    sets = " ".join(f"--set {o}" for o in cluster.overrides())
    listen = "loopback only"
    if cluster.exposed():
        ports = [a.rsplit(":", 1)[1] for a in (cluster.job_endpoint, cluster.worker_pool)]
        listen = (f"loopback, and job service {join_host_port(cluster.bind_address, ports[0])}, "
                  f"worker pool {join_host_port(cluster.bind_address, ports[1])}: "
                  f"UNAUTHENTICATED, keep them behind a firewall / VPN / mTLS proxy "
                  f"(docs/security.md)")
    return (f"job service : {cluster.job_endpoint} (log {cluster.job_service_log})\n"
            f"worker pool : {cluster.worker_pool} (log {cluster.worker_pool_log})\n"
            f"listening on: {listen}\n"
            f"run with    : python -m pipeline run {sets}\n"
            f"or in YAML  :\n  beam:\n    runner: portable\n    portable:\n"
            f"      job_endpoint: {cluster.job_endpoint}\n      environment_type: EXTERNAL\n"
            f"      environment_config: {cluster.worker_pool}")


def main(action: str, state_dir: str = DEFAULT_STATE_DIR, smoke_timeout: float = 120.0,
         bind_address: str = LOOPBACK) -> int:
    """`up` (foreground until Ctrl-C), `start` (background), `stop`, `status`. Exit 1 on error.
    `bind_address`: beam.portable.bind_address (default: loopback only)."""
    try:
        if action in ("start", "up"):
            cluster = start(state_dir, smoke_timeout=smoke_timeout, bind_address=bind_address)
            print(f"Beam portable stack started and smoke-tested (state: {state_dir}).")
            print(describe(cluster))
            if action == "start":
                print(f"stop it with: python -m pipeline beam-cluster stop --state-dir {state_dir}")
                return 0
            print("Ctrl-C (or SIGTERM) stops it.", flush=True)

            def _interrupt(*_):
                raise KeyboardInterrupt

            # Also when started in the background, where SIGINT is inherited as ignored.
            signal.signal(signal.SIGINT, _interrupt)
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                while _alive(cluster.worker_pool_pid) and _alive(cluster.job_service_pid):
                    time.sleep(1)
                print("error: a stack process exited; stopping", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                return 0
            finally:
                stop(cluster)
        cluster = load_state(state_dir)
        if cluster is None:
            print(f"no Beam stack recorded in {state_dir}")
            return 0 if action == "stop" else 1
        if action == "stop":
            running = any(_is_ours(pid, started) for pid, started in (
                (cluster.worker_pool_pid, cluster.worker_pool_started),
                (cluster.job_service_pid, cluster.job_service_started)))
            stop(cluster)
            print(f"stopped job service {cluster.job_endpoint} and worker pool "
                  f"{cluster.worker_pool}" if running else
                  f"the stack recorded in {state_dir} is not running (its processes are "
                  f"gone); nothing signalled")
            return 0
        health_check(cluster, timeout=5)
        print("healthy\n" + describe(cluster))
        return 0
    except BeamClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

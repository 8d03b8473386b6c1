"""Runs Beam's worker pool or local job service with every gRPC port on loopback unless asked.

    python -m pipeline.beam_launcher worker-pool --port P [--bind-address ADDR]
    python -m pipeline.beam_launcher job-service --port P --staging-dir DIR [--bind-address ADDR]

Beam 2.72 binds its servers on all interfaces and none of them authenticates: worker_pool_main's
pool on '[::]:PORT' (hard-coded, no flag), and inside the job service each job's FnApiRunner
control/data/state/logging servers (fn_api_runner/worker_handlers.py) and SubprocessSdkWorker's
logging server on '[::]:0'. Anyone reaching the pool can have it start an SDK worker against a
control endpoint of their own and run pickled code as this user.

Every one of those servers is made by `grpc.server(...)` followed by `.add_insecure_port(address)`
(looked up at call time). Before Beam is imported, this launcher wraps `grpc.server` so that every
server created in this process binds:
  * the service's own port (--port): loopback (127.0.0.1 and ::1), plus `--bind-address` when that
    is not loopback (beam.portable.bind_address; a wildcard 0.0.0.0 / :: replaces the loopback
    pair, which it includes);
  * any other port (Beam's per-job servers, port 0): loopback only, whatever Beam asked for. Beam
    advertises them to workers as 'localhost:PORT', so nothing off this machine could use them.
Then it runs Beam's own entry point (worker_pool_main.main, local_job_service_main.run) unchanged.
The rewrite does not depend on which Beam module creates a server, only on Beam calling
`grpc.server`, which every server in apache_beam 2.72 does. tests/pipeline/test_beam_cluster.py
checks the listening sockets of the running stack (and its SDK workers) from /proc.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
from typing import Callable, List, Optional, Tuple

LOOPBACK = "localhost"       # beam.portable.bind_address's default: 127.0.0.1 and ::1
WILDCARDS = ("0.0.0.0", "::")
_HOOKED = "_tfx_loopback_hook"


def split_host_port(address: str) -> Tuple[str, int]:
    """'[::]:0' -> ('::', 0); 'localhost:8099' -> ('localhost', 8099)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """'localhost', 127.0.0.0/8 or ::1."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_address(value: str) -> str:
    """'localhost' or an IP literal (brackets optional), normalised; ValueError otherwise.
    Host names are refused: gRPC would bind every address a name resolves to."""
    host = value.strip().strip("[]")
    if host == "localhost":
        return host
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"expected 'localhost' (loopback, the default), an IP address of this "
                         f"machine, or 0.0.0.0 / :: (all interfaces); got {value!r}") from None


def unauthenticated_warning(bind_address: str, what: str) -> str:
    return (f"warning: {what} listen(s) on {bind_address} (beam.portable.bind_address) WITHOUT "
            f"authentication or encryption: anyone who can reach the port can run arbitrary code "
            f"as this user. Keep it behind a firewall, a VPN or an mTLS-terminating proxy "
            f"(docs/security.md).")


def _bind(add_port: Callable[[str], int], hosts: List[str], port: int) -> Tuple[int, List[str]]:
    """Binds `port` on each host (the first may pick the port: 0), later hosts reuse it; the
    port and the addresses bound. A later host that cannot be bound (no IPv6 loopback, say) is
    skipped; the first must succeed."""
    bound, addresses = 0, []
    for i, host in enumerate(hosts):
        address = join_host_port(host, bound or port)
        try:
            result = add_port(address)
        except RuntimeError as e:  # grpc >= 1.5x raises, older versions returned 0
            if i == 0:
                raise RuntimeError(f"cannot bind {address}: {e}") from None
            result = 0
        if not result:
            if i == 0:
                raise RuntimeError(f"cannot bind {address}")
            continue
        bound = bound or result
        addresses.append(join_host_port(host, bound))
    return bound, addresses


def bind_hosts(public: bool, bind_address: str) -> List[str]:
    """The hosts a server port is bound on: loopback unless `public` and a non-loopback address."""
    loopback = ["127.0.0.1", "::1"]
    if not public or is_loopback(bind_address):
        return loopback
    if bind_address in WILDCARDS:
        return [bind_address]
    return loopback + [bind_address]


def install_bind_hook(public_port: int, bind_address: str = LOOPBACK) -> None:
    """Wraps `grpc.server` so every server made afterwards in this process binds as described in
    the module docstring. Idempotent."""
    import grpc
    if getattr(grpc.server, _HOOKED, False):
        return
    original = grpc.server

    def _rewrite(add_port: Callable[[str], int]) -> Callable[[str], int]:
        def add_port_on_allowed_hosts(address: str) -> int:
            if address.startswith("unix:"):  # a local socket file: not reachable from the network
                return add_port(address)
            _, port = split_host_port(address)
            hosts = bind_hosts(bool(public_port) and port == public_port, bind_address)
            bound, addresses = _bind(add_port, hosts, port)
            print(f"beam_launcher: gRPC port requested as {address!r} bound on "
                  f"{', '.join(addresses)}", file=sys.stderr, flush=True)
            return bound
        return add_port_on_allowed_hosts

    def server(*args, **kwargs):
        srv = original(*args, **kwargs)
        srv.add_insecure_port = _rewrite(srv.add_insecure_port)
        add_secure = srv.add_secure_port
        srv.add_secure_port = lambda address, credentials: _rewrite(
            lambda a: add_secure(a, credentials))(address)
        return srv

    setattr(server, _HOOKED, True)
    grpc.server = server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.beam_launcher",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("service", choices=["worker-pool", "job-service"])
    parser.add_argument("--port", type=int, required=True, help="the service's port (> 0)")
    parser.add_argument("--bind-address", default=LOOPBACK,
                        help="where the service's port listens besides loopback (default: "
                             "loopback only)")
    parser.add_argument("--staging-dir", help="job-service: where artifacts are staged")
    args = parser.parse_args(argv)
    if args.port <= 0:
        parser.error("--port must be a fixed port > 0 (it tells the service's own server apart)")
    try:
        bind_address = check_bind_address(args.bind_address)
    except ValueError as e:
        parser.error(f"--bind-address: {e}")
    if not is_loopback(bind_address):
        print(unauthenticated_warning(bind_address, f"the {args.service} port {args.port}"),
              file=sys.stderr, flush=True)
    install_bind_hook(args.port, bind_address)  # before Beam is imported
    # Then exactly what each Beam module's own `if __name__ == "__main__":` block does.
    if args.service == "worker-pool":
        from apache_beam.runners.worker import worker_pool_main
        worker_pool_main.main([f"--service_port={args.port}"])
    else:
        from apache_beam.runners.portability import local_job_service_main
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        logging.basicConfig()
        logging.getLogger().setLevel(logging.INFO)
        beam_argv = ["-p", str(args.port)]
        if args.staging_dir:
            beam_argv += ["--staging_dir", args.staging_dir]
        local_job_service_main.run(beam_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Workers share their parent's network and nobody else does (compat §12, executor level).

A worker's spec names its parent's handle (``network_of``): under ``isolated`` networking the
local executor starts it in the parent's namespace, so the two reach each other on any port
at one address, while a workload of another project (a namespace of its own) and this
machine cannot. A worker's end leaves the parent's network working. Under ``shared``
networking everything is on the machine's loopback, as before.
"""

# ruff: noqa: F811 (pytest fixtures imported from test_sandbox_network, named as parameters)
from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest
from tests.executors.support import TrackingExecutor, wait_exit, wait_log
from tests.ports import free_port
from tests.security.test_sandbox_network import (  # noqa: F401 (fixtures used here too)
    PROBE,
    SERVE,
    listeners,
    mode,
    net_executor,
    spec_for,
)

from lakeworks.entities.workloads import ExitInfo, WorkloadKind
from lakeworks.executors.base import StartFailed


def serve_on(port: int) -> str:
    """A worker's server on an arbitrary port of its own choosing (not one the executor
    forwarded), on every address."""
    return f"""
import socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", {port}))
server.listen()
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"worker")
    conn.close()
"""


@pytest.fixture
def any_port() -> int:
    """Free on this machine when the test starts: under shared networking the worker binds
    the machine's own stack, where a fixed port may be taken (a parallel test, an outgoing
    connection's ephemeral port)."""
    return free_port()


def _probe(executor: TrackingExecutor, handle: dict[str, object]) -> dict[str, str]:
    assert wait_exit(executor, handle) == ExitInfo(0), executor.logs(handle)
    return dict(json.loads(executor.logs(handle)[0].decode().split("RESULT ", 1)[1]))


def test_a_worker_shares_its_parents_network_and_nobody_else_does(
    mode: str, net_executor: TrackingExecutor, tmp_path: Path, any_port: int
) -> None:
    alice, mallory = tmp_path / "alice", tmp_path / "mallory"
    parent = net_executor.start(spec_for(alice, tmp_path, SERVE, ports=1))
    wait_log(net_executor, parent, "listening")
    parent_port = parent["ports"][0]
    address = net_executor.ip_address(parent)

    worker_spec = spec_for(alice, tmp_path, serve_on(any_port), ports=1)
    worker_spec = dataclasses.replace(worker_spec, kind=WorkloadKind.WORKER, network_of=parent)
    worker = net_executor.start(worker_spec)
    wait_log(net_executor, worker, "listening")
    assert net_executor.ip_address(worker) == address
    assert worker["ports"][0] != parent_port  # one stack: ports of their own

    # A second worker of the parent reaches the parent's loopback-only port (one loopback)
    # and the first worker's arbitrary port at the shared address.
    targets = [f"127.0.0.1:{parent_port}", f"{address}:{any_port}"]
    sibling_spec = spec_for(alice, tmp_path, PROBE, *targets)
    sibling = net_executor.start(dataclasses.replace(sibling_spec, network_of=parent))
    found = _probe(net_executor, sibling)
    assert found == {targets[0]: "private app", targets[1]: "worker"}

    if mode == "isolated":
        assert address != "127.0.0.1"
        # Another project's workload, on the same address in its own namespace, and this
        # machine's own stack reach nothing.
        strangers = [f"127.0.0.1:{any_port}", f"{address}:{any_port}"]
        outsider = net_executor.start(spec_for(mallory, tmp_path, PROBE, *strangers))
        assert set(_probe(net_executor, outsider).values()) == {"ConnectionRefusedError"}
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, any_port), timeout=3).close()
    else:
        assert address == "127.0.0.1"

    # A worker's end leaves its parent's network (and the parent's forwarded port) alone.
    net_executor.stop(worker, grace=1)
    with socket.create_connection(("127.0.0.1", parent_port), timeout=5) as conn:
        assert conn.recv(100) == b"private app"
    net_executor.stop(parent, grace=1)


def test_a_worker_of_an_ended_parent_does_not_start(
    mode: str, net_executor: TrackingExecutor, tmp_path: Path
) -> None:
    if mode != "isolated":
        pytest.skip("without isolation there is no parent's network to join")
    parent = net_executor.start(spec_for(tmp_path / "alice", tmp_path, SERVE, ports=1))
    wait_log(net_executor, parent, "listening")
    net_executor.stop(parent, grace=1)
    spec = spec_for(tmp_path / "alice", tmp_path, serve_on(free_port()))
    spec = dataclasses.replace(spec, kind=WorkloadKind.WORKER, network_of=parent)
    with pytest.raises(StartFailed, match="ended"):
        net_executor.start(spec)

"""Network namespaces made ahead (``executors/netpool.py``, issue 17): each serves one
workload, which reaches no other workload through it, and none outlives its use: not the
ones taken (they end with their workload), not the ones waiting (they end with the pool, or
with the server however it dies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from tests.executors.support import TrackingExecutor, wait_exit, wait_log

from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors import netpool, network
from lakeworks.executors.processes import is_running

SpecFactory = Callable[..., WorkloadSpec]
PORT = 47123  # inside the workloads' own namespaces: free in every new one
READY_WAIT = 60.0

LISTEN = f"""
import socket, time
server = socket.socket()
server.bind(("127.0.0.1", {PORT}))
server.listen()
print("listening", flush=True)
time.sleep(60)
"""

PROBE = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {PORT}), timeout=3)
    print("reached")
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def pooled(make_executor: Callable[..., TrackingExecutor]) -> TrackingExecutor:
    executor = make_executor(
        use_bwrap=None, require_sandbox=True, isolate_network=True, network_pool=2
    )
    if executor.sandbox != "bwrap" or executor.refusal:
        pytest.skip(f"no sandbox here: {executor.refusal or 'bubblewrap does not work'}")
    if executor.network_pool is None:
        pytest.skip(f"no namespaces made ahead here: {netpool.usable()}")
    assert executor.prepare_network(timeout=READY_WAIT)
    return executor


def _gone(pids: Iterable[tuple[int, int]], timeout: float = 15.0) -> list[int]:
    """Those of ``(pid, start time)`` still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid, start in pids if is_running(pid, start)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _processes(handle_or_namespace: dict[str, int]) -> list[tuple[int, int]]:
    h = handle_or_namespace
    return [(h["holder_pid"], h["holder_start_time"]), (h["pasta_pid"], h["pasta_start_time"])]


def _of(namespace: netpool.Namespace) -> list[tuple[int, int]]:
    return [
        (namespace.holder_pid, namespace.holder_start_time),
        (namespace.pasta_pid, namespace.pasta_start_time),
    ]


def test_each_workload_gets_a_namespace_no_other_workload_has_used(
    pooled: TrackingExecutor, make_spec: SpecFactory
) -> None:
    assert pooled.network_pool is not None
    made_ahead = {ns.holder_pid for ns in pooled.network_pool.waiting()}

    first = pooled.start(make_spec(LISTEN))
    wait_log(pooled, first, "listening")
    # The second binds the same port: in a namespace the first had used, it could not.
    second = pooled.start(make_spec(LISTEN))
    wait_log(pooled, second, "listening")

    assert first["holder_pid"] in made_ahead
    assert first["holder_pid"] != second["holder_pid"]
    namespaces = {os.readlink(f"/proc/{h['netns_pid']}/ns/net") for h in (first, second)}
    assert len(namespaces) == 2
    assert os.readlink("/proc/self/ns/net") not in namespaces
    # Taken namespaces never go back to the pool.
    waiting = {ns.holder_pid for ns in pooled.network_pool.waiting()}
    assert not waiting & {first["holder_pid"], second["holder_pid"]}

    probe = pooled.start(make_spec(PROBE))
    assert wait_exit(pooled, probe) == ExitInfo(0)
    assert pooled.logs(probe)[0].decode().strip() == "ConnectionRefusedError"

    # A namespace ends with its workload: its holder and its pasta.
    for handle in (first, second):
        pooled.stop(handle, grace=1.0)
    assert _gone(_processes(first) + _processes(second) + _processes(probe)) == []


def test_closing_ends_the_waiting_namespaces_and_leaves_the_taken_ones_to_their_workloads(
    pooled: TrackingExecutor, make_spec: SpecFactory
) -> None:
    assert pooled.network_pool is not None
    running = pooled.start(make_spec(LISTEN))
    wait_log(pooled, running, "listening")
    assert pooled.prepare_network(timeout=READY_WAIT)  # refilled
    waiting = [p for ns in pooled.network_pool.waiting() for p in _of(ns)]
    assert len(waiting) == 4

    pooled.close()

    assert _gone(waiting) == []
    assert pooled.network_pool.waiting() == []
    assert pooled.poll(running) is None
    assert network.has_default_route(running["netns_pid"])  # its network is still there
    assert all(is_running(pid, start) for pid, start in _processes(running))
    pooled.stop(running, grace=1.0)
    assert _gone(_processes(running)) == []


def test_the_waiting_namespaces_end_when_the_server_dies(
    pooled: TrackingExecutor, tmp_path: Path
) -> None:
    """Killed (no ``close``), the server leaves no namespace, holder or pasta behind."""
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from lakeworks.executors.local import LocalExecutor\n"
        "ex = LocalExecutor(Path(sys.argv[1]), use_bwrap=None, require_sandbox=True,\n"
        "                   isolate_network=True, network_pool=2)\n"
        f"assert ex.prepare_network(timeout={READY_WAIT})\n"
        "made = [(n.holder_pid, n.holder_start_time, n.pasta_pid, n.pasta_start_time)\n"
        "        for n in ex.network_pool.waiting()]\n"
        "print(json.dumps(made), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "other-server")],
        capture_output=True,
        text=True,
        timeout=READY_WAIT + 30,
    )
    assert done.returncode == -9, done.stderr
    made = json.loads(done.stdout)
    assert len(made) == 2
    processes = [(h, hs) for h, hs, _, _ in made] + [(p, ps) for _, _, p, ps in made]

    assert _gone(processes) == []

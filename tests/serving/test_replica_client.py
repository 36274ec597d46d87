"""The gateway's connections to a real replica process (``lakeworks_serving``): kept alive
between calls, and each failure named for what the gateway may do next; over the replica's
TCP port and over the Unix socket an executor makes for it (``LAKEWORKS_REPLICA_SOCKET_FD``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.ports import free_port

from lakeworks.serving.replica_client import (
    ReplicaGone,
    ReplicaPool,
    ReplicaTimeout,
    ReplicaUnreachable,
)
from lakeworks.workload import site_dir

MODEL = """
import os, time
def predict(args):
    time.sleep(args.get("sleep", 0))
    if args.get("crash"):
        os._exit(3)
    return {"pid": os.getpid()}
"""


Replica = tuple[str, str, subprocess.Popen[bytes]]  # address, Unix socket or "", process


@pytest.fixture(params=["tcp", "unix"])
def start_replica(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Replica]]:
    """Starts replicas; with ``unix``, each inherits a listening Unix socket (as the executor
    gives one) and is called on it."""
    (tmp_path / "model.py").write_text(MODEL)
    started: list[subprocess.Popen[bytes]] = []
    sockets = Path(tempfile.mkdtemp(prefix="lw-replica-"))  # short: a socket path has 108 bytes

    def start() -> Replica:
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(site_dir()),
            "LAKEWORKS_REPLICA_PORT": str(port),
            "LAKEWORKS_MODEL_FILE": "model.py",
            "LAKEWORKS_MODEL_FUNCTION": "predict",
            "LAKEWORKS_MODEL_TIMEOUT": "0",
        }
        path, listener = "", None
        if request.param == "unix":
            path = str(sockets / f"{len(started)}.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(16)
            env["LAKEWORKS_REPLICA_SOCKET_FD"] = str(listener.fileno())
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lakeworks_serving"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[listener.fileno()] if listener else [],
            )
        finally:
            if listener is not None:
                listener.close()  # the replica has its copy, as a workload has the executor's
        started.append(proc)
        deadline = time.monotonic() + 30
        while True:  # the port opens once the model is loaded
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "replica did not start"
            time.sleep(0.05)
        return f"127.0.0.1:{port}", path, proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    shutil.rmtree(sockets)


def test_calls_share_one_connection_and_failures_say_what_happened(
    start_replica: Callable[[], Replica],
) -> None:
    async def scenario() -> None:
        address, path, proc = start_replica()
        pool = ReplicaPool()
        payload = json.dumps({}).encode()
        first = await pool.post(address, "/predict", payload, {}, timeout=10, socket=path)
        assert first[0] == 200 and json.loads(first[1].split(b"\n")[1])["success"] is True
        [kept] = pool._idle[address]
        kind = kept.writer.get_extra_info("socket").family
        assert kind == (socket.AF_UNIX if path else socket.AF_INET)
        await pool.post(address, "/predict", payload, {}, timeout=10, socket=path)
        assert list(pool._idle[address]) == [kept], "the second call reused the connection"

        # A replica that stops (draining closes its idle connections) is unreachable, not
        # "gone mid-request": the pooled connection it closed is not written to.
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 10)
        await asyncio.sleep(0.1)  # the gateway's loop runs on meanwhile, and sees the close
        with pytest.raises(ReplicaUnreachable):
            await pool.post(address, "/predict", payload, {}, timeout=10, socket=path)

        # Killed while answering: gone mid-request.
        address, path, proc = start_replica()
        with pytest.raises(ReplicaGone):
            await pool.post(address, "/predict", b'{"crash": true}', {}, timeout=10, socket=path)

        # No answer in time: a timeout, and that connection is not used again.
        address, path, proc = start_replica()
        with pytest.raises(ReplicaTimeout):
            await pool.post(address, "/predict", b'{"sleep": 2}', {}, timeout=0.3, socket=path)
        assert not pool._idle.get(address)
        await asyncio.sleep(2)
        status, _ = await pool.post(address, "/predict", payload, {}, timeout=10, socket=path)
        assert status == 200
        await pool.close()

    asyncio.run(scenario())

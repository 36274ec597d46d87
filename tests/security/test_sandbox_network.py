"""Issue 12, H3: a workload's ports answer the proxy and the gateway, not other workloads.

With ``LAKEWORKS_SANDBOX_NETWORK=isolated`` each sandboxed workload has a network namespace
of its own (``executors/network.py``). The review's attack was a job calling another user's
private app and model replica on ``127.0.0.1:<port>`` directly; here a workload of another
project tries exactly that, and also the server's internal listeners on the machine's
loopback. Both modes are run: ``shared`` (the machine's network) keeps what worked before.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.executors.support import TrackingExecutor, wait_exit, wait_log
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.security.test_sandbox_isolation import RunJob, result

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.workloads import ExitInfo, Resources, WorkloadKind, WorkloadSpec
from lakeworks.executors.local import LocalExecutor
from lakeworks.services.platform import Platform, Principal

SERVE = """
import os, socket
server = socket.socket()
server.bind(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])))
server.listen()
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"private app")
    conn.close()
"""

PROBE = """
import json, socket, sys
def reach(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=3) as conn:
            return conn.recv(100).decode() or "accepted, then closed"
    except OSError as exc:
        return type(exc).__name__
targets = [t.rsplit(":", 1) for t in sys.argv[1:]]
print("RESULT " + json.dumps({f"{h}:{p}": reach(h, p) for h, p in targets}))
"""


class Listener:
    """A TCP server on this machine answering its name (a stand-in for an internal listener
    of the server, or for the server's own port)."""

    def __init__(self, host: str, name: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.name = name.encode()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.name)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    made = {
        "server": Listener("127.0.0.1", "server"),
        "internal": Listener("127.0.0.1", "internal"),
    }
    yield made
    for listener in made.values():
        listener.close()


@pytest.fixture(params=["isolated", "shared"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def net_executor(
    mode: str,
    listeners: dict[str, Listener],
    make_executor: Callable[..., TrackingExecutor],
) -> TrackingExecutor:
    executor = make_executor(
        use_bwrap=None,
        require_sandbox=True,
        isolate_network=mode == "isolated",
        host_ports=(listeners["server"].port,),
    )
    if executor.sandbox != "bwrap" or executor.refusal:
        pytest.skip(f"no sandbox here: {executor.refusal or 'bubblewrap does not work'}")
    return executor


def spec_for(project: Path, tmp_path: Path, code: str, *args: str, ports: int = 0) -> WorkloadSpec:
    project.mkdir(exist_ok=True)
    name = f"{project.name}-{len(list(tmp_path.glob('*.log')))}"
    return WorkloadSpec(
        workload_id=name,
        kind=WorkloadKind.APPLICATION,
        argv=[sys.executable, "-u", "-c", code, *args],
        env={"PATH": "/usr/bin:/bin"},
        project_dir=project,
        log_path=tmp_path / f"{name}.log",
        runtime_dir=Path(sys.prefix),
        extra_ro_binds=[Path(sys.base_prefix)],
        resources=Resources(cpu=1.0, memory_mb=512),
        ports=["CDSW_APP_PORT"][:ports],
    )


def test_only_the_platform_reaches_a_workloads_port(
    mode: str,
    net_executor: TrackingExecutor,
    listeners: dict[str, Listener],
    tmp_path: Path,
) -> None:
    app = net_executor.start(spec_for(tmp_path / "alice", tmp_path, SERVE, ports=1))
    wait_log(net_executor, app, "listening")
    port = app["ports"][0]

    # The proxy and gateway (this process, on the machine's loopback) reach it as before.
    assert net_executor.listening(app, port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(100) == b"private app"

    targets = [f"127.0.0.1:{port}"] + [f"127.0.0.1:{x.port}" for x in listeners.values()]
    probe = net_executor.start(spec_for(tmp_path / "mallory", tmp_path, PROBE, *targets))
    assert wait_exit(net_executor, probe) == ExitInfo(0), net_executor.logs(probe)
    found = json.loads(net_executor.logs(probe)[0].decode().split("RESULT ", 1)[1])

    server, internal = listeners["server"].port, listeners["internal"].port
    assert found[f"127.0.0.1:{server}"] == "server"  # the server's port is allowed
    if mode == "isolated":
        assert found[f"127.0.0.1:{port}"] == "ConnectionRefusedError"
        assert found[f"127.0.0.1:{internal}"] == "ConnectionRefusedError"
    else:  # the machine's network, shared: what H3 closes when isolated
        assert found[f"127.0.0.1:{port}"] == "private app"
        assert found[f"127.0.0.1:{internal}"] == "internal"


def test_a_site_allows_more_ports_of_the_machine(
    make_executor: Callable[..., TrackingExecutor], tmp_path: Path
) -> None:
    allowed, other = Listener("127.0.0.1", "site database"), Listener("127.0.0.1", "other")
    try:
        executor = make_executor(
            use_bwrap=None, require_sandbox=True, isolate_network=True, host_ports=(allowed.port,)
        )
        if executor.sandbox != "bwrap" or executor.refusal:
            pytest.skip(f"no sandbox here: {executor.refusal or 'bubblewrap does not work'}")
        targets = [f"127.0.0.1:{allowed.port}", f"127.0.0.1:{other.port}"]
        probe = executor.start(spec_for(tmp_path / "p", tmp_path, PROBE, *targets))
        assert wait_exit(executor, probe) == ExitInfo(0), executor.logs(probe)
        found = json.loads(executor.logs(probe)[0].decode().split("RESULT ", 1)[1])
    finally:
        allowed.close()
        other.close()

    assert found == {targets[0]: "site database", targets[1]: "ConnectionRefusedError"}


def test_a_port_counts_as_open_only_once_the_workload_listens(
    mode: str, net_executor: TrackingExecutor, tmp_path: Path
) -> None:
    late = "import time\ntime.sleep(1.5)\n" + SERVE
    app = net_executor.start(spec_for(tmp_path / "late", tmp_path, late, ports=1))
    port = app["ports"][0]

    assert not net_executor.listening(app, port)
    wait_log(net_executor, app, "listening")
    deadline = time.monotonic() + 5
    while not net_executor.listening(app, port):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_without_pasta_isolated_workloads_do_not_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_executor: Callable[..., TrackingExecutor]
) -> None:
    import shutil

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed")
    only_bwrap = tmp_path / "bin"
    only_bwrap.mkdir()
    (only_bwrap / "bwrap").symlink_to(bwrap)
    setpriv = shutil.which("setpriv")
    if setpriv:
        (only_bwrap / "setpriv").symlink_to(setpriv)
    monkeypatch.setenv("PATH", str(only_bwrap))
    executor: LocalExecutor = make_executor(
        use_bwrap=None, require_sandbox=True, isolate_network=True
    )
    if executor.sandbox != "bwrap":
        pytest.skip("bubblewrap does not work here")

    assert "pasta (Debian package passt) is not installed" in executor.refusal
    assert "LAKEWORKS_SANDBOX_NETWORK=shared" in executor.refusal


@pytest.fixture
def sec_settings(settings: Settings) -> Settings:
    """This module's platform isolates workloads' networks (overrides conftest's)."""
    return settings.model_copy(
        update={"runtimes_dir": RUNTIME_CACHE, "sandbox_network": "isolated"}
    )


def test_a_job_cannot_call_another_projects_app_directly(
    sandboxed: Platform,
    alice: Principal,
    alice_project: Project,
    mallory: Principal,
    mallory_project: Project,
    run_job: RunJob,
) -> None:
    from lakeworks.entities.applications import AppStatus
    from lakeworks.services import applications, workloads

    if getattr(sandboxed.executor, "refusal", ""):
        pytest.skip(str(getattr(sandboxed.executor, "refusal", "")))
    (sandboxed.settings.projects_dir / alice_project.id / "app.py").write_text(SERVE)
    fields = applications.AppFields(name="Private", subdomain="private-app", script="app.py")
    app = applications.create(sandboxed, alice, alice_project.id, fields)
    deadline = time.monotonic() + 90
    while app.status is not AppStatus.RUNNING:
        assert time.monotonic() < deadline and app.status is AppStatus.STARTING, app
        time.sleep(0.2)
        app = applications.get(sandboxed, alice, alice_project.id, app.id)
    handle = workloads.get(sandboxed, app.workload_id or "").handle
    port = handle["ports"][handle["port_names"].index("CDSW_APP_PORT")]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(100) == b"private app"  # where the proxy reaches it

    run, log = run_job(mallory, mallory_project, PROBE, arguments=f"127.0.0.1:{port}")

    assert run.status is RunStatus.SUCCEEDED, (run.reason, log)
    assert result(run, log)[f"127.0.0.1:{port}"] == "ConnectionRefusedError"


def test_a_workloads_pasta_ends_with_it(
    mode: str, net_executor: TrackingExecutor, tmp_path: Path
) -> None:
    """pasta holds the workload's namespace open, so it never sees the workload end by itself:
    every start leaked a ~30 MiB process (the suite ran the machine out of memory)."""
    if mode != "isolated":
        pytest.skip("no pasta with the shared network")
    from lakeworks.executors.processes import read_stat

    done = net_executor.start(spec_for(tmp_path / "brief", tmp_path, "print('done')"))
    stopped = net_executor.start(spec_for(tmp_path / "long", tmp_path, SERVE, ports=1))
    wait_log(net_executor, stopped, "listening")
    pastas = [done["pasta_pid"], stopped["pasta_pid"]]
    assert read_stat(stopped["pasta_pid"]) is not None  # connecting the running workload
    assert wait_exit(net_executor, done) == ExitInfo(0)
    net_executor.stop(stopped, grace=1.0)
    deadline = time.monotonic() + 10
    while any(read_stat(pid) is not None for pid in pastas) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pastas if read_stat(pid) is not None] == []

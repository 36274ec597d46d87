"""Workers (compat §12) from a real job standing in for a session: ``launch_workers`` with a
``!`` command and with Python ``code``, ``await_workers(wait_for_completion=False)`` returning
addresses, a worker serving TCP on an arbitrary port that the parent and another worker
reach, ``list_workers``/``stop_workers``, worker output in the parent's log, refusals of
other callers, and workers ending with their parent. Real runtime, sandbox, network
namespaces and server over HTTP."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.tracking.fixtures import tracking_settings
from tests.tracking.live import LiveServer, live_server
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.entities.workloads import WorkloadKind, WorkloadStatus
from lakeworks.errors import PermissionDenied
from lakeworks.services import auth, job_runs, jobs, projects, sessions, workers
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

ECHO_SERVER = """
import socket, sys
port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen()
print("ECHO-SERVER-READY", port, flush=True)
while True:
    conn, _ = srv.accept()
    with conn:
        conn.sendall(b"echo:" + conn.recv(1024))
"""

# Runs in a worker, through the script runner (Python code, not a shell line).
CLIENT = """
import os, socket, time
def ask(host, port, data):
    for _ in range(300):
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(data)
                return s.recv(1024).decode()
        except OSError:
            time.sleep(0.1)
    raise SystemExit("no answer from " + host)
print("CLIENT-GOT", ask(os.environ["SERVER_IP"], 47123, b"from-worker"), flush=True)
print("CLIENT-ENV", os.environ["CDSW_MASTER_ID"], os.environ["CDSW_ENGINE_ID"],
      os.environ["CDSW_MASTER_IP"], os.environ["CDSW_IP_ADDRESS"], os.environ["CDSW_APP_PORT"],
      os.environ["CDSW_ENGINE_TYPE"], os.environ["ROLE"], flush=True)
"""

PARENT = """
import inspect, os, socket, sys, time
import cdsw
from cml import workers_v1

assert "name" in inspect.signature(cdsw.launch_workers).parameters
assert cdsw.launch_workers is workers_v1.launch_workers
print("MASTER", os.environ["CDSW_ENGINE_ID"], flush=True)

def ask(host, port, data):
    for _ in range(300):
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(data)
                return s.recv(1024).decode()
        except OSError:
            time.sleep(0.1)
    raise SystemExit("no answer from " + host)

server = cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, code="!python echo_server.py 47123")
print("LAUNCHED", *sorted(server[0]), flush=True)
ready = cdsw.await_workers(server, wait_for_completion=False, timeout_seconds=180)
assert not ready["failures"], ready
ip = ready["workers"][0]["ip_address"]
assert ip, ready
print("SERVER-IP", ip, flush=True)
print("PARENT-GOT", ask(ip, 47123, b"from-parent"), flush=True)

client = workers_v1.launch_workers(
    1, 0.25, 0.5, code=CLIENT, env={"SERVER_IP": ip, "ROLE": "client"}, name="client"
)
done = workers_v1.await_workers(client, wait_for_completion=True, timeout_seconds=180)
print("CLIENT-DONE", [w["status"] for w in done["workers"]], len(done["failures"]), flush=True)

listed = cdsw.list_workers()
print("LISTED", sorted((w["name"], w["status"]) for w in listed), flush=True)
print("STOP", [r.status_code for r in cdsw.stop_workers(server[0]["id"])], flush=True)
print("STOP-BOGUS", [r.status_code for r in cdsw.stop_workers("zzzzzzzzzzzzzzzz")], flush=True)
stopped = cdsw.await_workers([server[0]["id"]], timeout_seconds=60)
print("STOPPED", [w["status"] for w in stopped["failures"]], flush=True)

sleeper = cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, code="!sleep 600")
late = cdsw.await_workers(sleeper, timeout_seconds=1)
print("TIMEOUT", len(late["workers"]), *[w["status"] for w in late["failures"]], flush=True)
cdsw.stop_workers(sleeper[0]["id"])

bad = cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, script="no/such/file.py")
print("BAD-SCRIPT", bad[0]["status"], "message" in bad[0], bad[0]["engineId"] == bad[0]["id"])

lingering = cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, code="!python echo_server.py 47124")
up = cdsw.await_workers(lingering, wait_for_completion=False, timeout_seconds=180)
assert not up["failures"], up
print("LINGERING", lingering[0]["id"], up["workers"][0]["ip_address"], flush=True)
print("LINGER-GOT", ask(up["workers"][0]["ip_address"], 47124, b"x"), flush=True)
time.sleep(3600)
"""


def _after(log: str, marker: str) -> list[str]:
    found = re.search(rf"^{marker} (.*)$", log, re.MULTILINE)
    assert found, f"{marker} missing from the log:\n{log[-4000:]}"
    return found.group(1).split()


@pytest.fixture
def sdk_server(
    request: pytest.FixtureRequest,
    settings: Settings,
    store: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """``tests/sdk``'s server, with the workloads' network mode as the (indirect) parameter."""
    network = getattr(request, "param", "isolated")
    settings = tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))
    update = {"runtimes_dir": RUNTIME_CACHE, "sandbox_network": network}
    with live_server(settings.model_copy(update=update), store) as srv:
        try:
            yield srv
        finally:
            stop_live_workloads(srv.platform)


@pytest.mark.parametrize("sdk_server", ["isolated", "shared"], indirect=True)
def test_workers_of_a_job_reach_each_other_and_end_with_it(
    sdk_server: LiveServer,
    sdk_platform: Platform,
    alice: User,
    bob: User,
    tick_until: Callable[..., Any],
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Workers", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "echo_server.py").write_text(ECHO_SERVER)
    (root / "parent.py").write_text(f"CLIENT = {CLIENT!r}\n" + PARENT)
    job = jobs.create(platform, principal, project.id, JobFields(name="parent", script="parent.py"))
    run = job_runs.trigger(platform, principal, project.id, job.id)

    def log_text() -> str:
        return job_runs.run_log(platform, principal, project.id, job.id, run.id)[0].decode()

    def lingering() -> Any:
        current = job_runs.get_run(platform, principal, project.id, job.id, run.id)
        text = log_text()
        assert not current.status.is_final, text[-4000:]
        return text if "LINGER-GOT" in text else None

    log = tick_until(lingering, "the parent job's workers", timeout=600)
    [master] = _after(log, "MASTER")
    launched = set(_after(log, "LAUNCHED"))
    assert {"id", "status", "created_at", "app_url", "ip_address", "engineId"} <= launched
    [ip] = _after(log, "SERVER-IP")
    # The ! worker's output is in the parent's log; the parent reached it on its port.
    assert "ECHO-SERVER-READY 47123" in log
    assert _after(log, "PARENT-GOT") == ["echo:from-parent"]
    # The Python-code worker reached the other worker, and had its own identity.
    assert _after(log, "CLIENT-GOT") == ["echo:from-worker"]
    env = _after(log, "CLIENT-ENV")
    assert env[0] == master and env[1] != master and len(env[1]) == 16
    assert env[2] == env[3] == ip
    assert env[5:] == ["worker", "client"]
    assert _after(log, "CLIENT-DONE") == ["['succeeded']", "0"]
    listed = " ".join(_after(log, "LISTED"))
    assert "('client', 'succeeded')" in listed and "('', 'running')" in listed
    assert _after(log, "STOP") == ["[200]"]
    assert _after(log, "STOP-BOGUS") == ["[404]"]
    assert _after(log, "STOPPED") == ["['stopped']"]
    assert _after(log, "BAD-SCRIPT") == ["failed", "True", "True"]
    timeout = _after(log, "TIMEOUT")
    assert timeout[0] == "0" and timeout[1:] in (["scheduling"], ["running"]), timeout
    worker_id, linger_ip = _after(log, "LINGERING")

    if platform.settings.sandbox_network == "shared":
        # Every workload is on this machine's loopback (no isolation asked for).
        assert ip == linger_ip == "127.0.0.1"
    else:
        # Nothing outside the parent's network reaches the workers' ports: this machine's
        # loopback and its own address lead to its own stack, where nothing listens.
        for host in ("127.0.0.1", linger_ip):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, 47124), timeout=2).close()

    # Other callers: another user is told the parent does not exist; its owner's own key
    # may list but not launch (only the workload itself launches).
    url = f"{sdk_server.url}/api/v2/projects/{project.id}/workers"
    body = {"parent_id": master, "n": 1, "cpu": 0.25, "memory": 0.5, "code": "!true"}

    def key_of(user: User) -> dict[str, str]:
        key = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username)
        return {"Authorization": f"Bearer {key.secret}"}

    assert httpx.post(url, json=body, headers=key_of(bob)).status_code == 404
    assert httpx.get(url, params={"parent_id": master}, headers=key_of(bob)).status_code == 404
    assert httpx.post(url, json=body, headers=key_of(alice)).status_code == 403
    assert httpx.post(url, json=body | {"n": 0}, headers=key_of(alice)).status_code == 400
    listed_by_owner = httpx.get(url, params={"parent_id": master}, headers=key_of(alice))
    assert listed_by_owner.status_code == 200
    assert worker_id in [w["id"] for w in listed_by_owner.json()["workers"]]
    with platform.read() as uow:
        events, _total = uow.audit.query(project_id=project.id, action_prefix="worker.")
    audited = {(e.action, e.outcome.value) for e in events}
    assert {("worker.launch", "success"), ("worker.stop", "success")} <= audited
    assert ("worker.launch", "denied") in audited

    # Stopping the parent ends its workers.
    job_runs.stop_run(platform, principal, project.id, job.id, run.id)

    def ended() -> Any:
        with platform.read() as uow:
            workers = uow.workloads.children(master)
        return all(w.status.is_final for w in workers) and workers

    workers = tick_until(ended, "the workers to end with their parent", timeout=120)
    assert all(w.kind is WorkloadKind.WORKER for w in workers)
    lingering_worker = next(w for w in workers if w.id == worker_id)
    assert lingering_worker.status is WorkloadStatus.STOPPED
    final = job_runs.get_run(platform, principal, project.id, job.id, run.id)
    assert final.status is RunStatus.STOPPED or final.status.is_final


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_workers_of_a_session_share_its_network_and_log_and_end_with_it(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    """The same with a real JupyterLab session as the parent: the service is called as the
    session's own key would call it (the library's path is covered above)."""
    platform = sdk_platform
    owner = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, owner, name="Session workers", source=projects.parse_source("", "")
    )
    (platform.settings.projects_dir / project.id / "echo_server.py").write_text(ECHO_SERVER)
    session = sessions.start(platform, owner, project.id, sessions.SessionFields(memory_mb=1024))

    def running() -> Any:
        current = sessions.get(platform, owner, project.id, session.id)
        assert not current.status.is_final, current.reason
        return current if sessions.answering(platform, current) else None

    session = tick_until(running, "the session", timeout=300)
    assert session.workload_id
    with platform.read() as uow:
        v1_key, v2_key = uow.workloads.key_ids(session.workload_id)
    as_session = Principal(user=alice, via="api_key", project_scope=project.id, key_id=v2_key)
    fields = workers.WorkerFields(cpu=0.25, memory_gb=0.5)
    [server] = workers.launch(
        platform,
        as_session,
        project.id,
        session.workload_id,
        replace(fields, code="!python echo_server.py 47200"),
    )
    assert server.workload.parent_id == session.workload_id
    probe_code = (
        "import os, socket, time\n"
        "for _ in range(300):\n"
        "    try:\n"
        "        c = socket.create_connection((os.environ['CDSW_MASTER_IP'], 47200), timeout=5)\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "c.sendall(b'session-probe'); print('SESSION-PROBE', c.recv(100).decode(), flush=True)\n"
    )
    [probe] = workers.launch(
        platform, as_session, project.id, session.workload_id, replace(fields, code=probe_code)
    )

    def probe_done() -> Any:
        [found] = [
            w
            for w in workers.list_workers(platform, owner, project.id, session.workload_id)
            if w.workload.id == probe.workload.id
        ]
        return found if found.workload.status.is_final else None

    ended = tick_until(probe_done, "the probing worker", timeout=300)
    log = sessions.log_of(platform, owner, project.id, session.id)[0].decode()
    assert ended.status == "succeeded", log[-4000:]
    assert "SESSION-PROBE echo:session-probe" in log
    assert "ECHO-SERVER-READY 47200" in log
    # A key that is not one of the session's own is refused, even its user's.
    other = Principal(user=alice, via="api_key", project_scope=project.id, key_id=v1_key + 10_000)
    with pytest.raises(PermissionDenied):
        workers.launch(
            platform, other, project.id, session.workload_id, replace(fields, code="!true")
        )

    sessions.stop(platform, owner, project.id, session.id)

    def all_ended() -> Any:
        found = workers.list_workers(platform, owner, project.id, session.workload_id)
        return all(w.workload.status.is_final for w in found) and found

    final = tick_until(all_ended, "the session's workers to end", timeout=120)
    statuses = {w.workload.id: w.status for w in final}
    assert statuses == {server.workload.id: "stopped", probe.workload.id: "succeeded"}

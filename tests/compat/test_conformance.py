"""The release gate (compat §15): each scenario walked as a user's project would, by real
jobs (and models) against a live server, written from the compatibility spec alone.

- 2 (§1.7, §8): a task calls API v1 ``GET``/``PUT …/environment`` (204); a later task
  reads the new variable.
- 4 (§6): ``cmlapi.default_client()`` with dict bodies, string numbers, unknown keys,
  ``async_req=True``, ``Cursor``, a sort and a filter; ``[-1]`` of a nested list is newest.
- 5 (§7): a job chain through ``parent_job_id`` runs on parent success only;
  ``stop_job_run`` on a finished run raises ``ApiException``.
- 9 (§12): ``launch_workers`` with a ``!`` command; ``await_workers(wait_for_completion=
  False)`` returns IPs; the workers reach each other on an arbitrary port.

Scenarios 2, 4 and 5 share one driver job (one project, as an automation script would).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.services import jobs, projects
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

SET_ENV = """
import os, requests
url = os.environ["CDSW_PROJECT_URL"] + "/environment"
auth = (os.environ["CDSW_API_KEY"], "")
got = requests.get(url, auth=auth)
print("V1-GET", got.status_code, got.json().get("EXISTING"))
env = dict(got.json())
env["CONFORMANCE_FLAG"] = "set-by-an-earlier-task"
put = requests.put(url, json=env, auth=auth)
print("V1-PUT", put.status_code, repr(put.text))
print("OWN-ENV", os.environ.get("CONFORMANCE_FLAG", "unset"))
"""

READ_ENV = """
import os
print("READ-ENV", os.environ.get("CONFORMANCE_FLAG", "unset"), os.environ["EXISTING"])
"""

FAIL = "raise SystemExit(3)\n"

DRIVER = """
import json, os, time
import cmlapi
from cmlapi.utils import Cursor

project_id = os.environ["CDSW_PROJECT_ID"]
api = cmlapi.default_client()

def job(name, script, parent=""):
    # A dict body, numbers as strings, keys the API does not know (compat §6.3).
    body = {"name": name, "script": script, "cpu": "0.5", "memory": "0.5",
            "kernel": "python3", "parent_job_id": parent, "not_a_field": {"x": 1},
            "timeout": "0", "environment": {"EXISTING": 1}}
    return api.create_job(body, project_id)

a = job("chain-a", "set_env.py")
b = job("chain-b", "read_env.py", a.id)
c = job("chain-c", "fail.py")
d = job("chain-d", "read_env.py", c.id)
print("PARENTS", b.parent_id == a.id, d.parent_id == c.id, a.parent_id == "")

# async_req, Cursor (one job a page), sort and filter, [-1] as newest.
listed = api.list_jobs(project_id, async_req=True).get()
print("NEWEST", listed.jobs[-1].name)
print("CURSOR", [j.name for j in Cursor(api.list_jobs, project_id=project_id, page_size=1).items()])
chain = api.list_jobs(project_id, search_filter=json.dumps({"name": "CHAIN"}), sort="-created_at")
print("SORTED", [j.name for j in chain.jobs])

run_a = api.create_job_run(cmlapi.CreateJobRunRequest(), project_id=project_id, job_id=a.id)
run_c = api.create_job_run({}, project_id, c.id)

def runs(job_id):
    return api.list_job_runs(project_id, job_id).job_runs

def final(run):
    return run.status in ("ENGINE_SUCCEEDED", "ENGINE_FAILED", "ENGINE_STOPPED", "ENGINE_TIMEDOUT")

deadline = time.time() + 500
while time.time() < deadline:
    done_b = [r for r in runs(b.id) if final(r)]
    done_c = [r for r in runs(c.id) if final(r)]
    if done_b and done_c:
        break
    time.sleep(1)
time.sleep(3)  # a dependant of the failed run would have been started by now
print("A", api.get_job_run(project_id, a.id, run_a.id).status)
print("B", [r.status for r in runs(b.id)])
print("C", api.get_job_run(project_id, c.id, run_c.id).status)
print("D", [r.status for r in runs(d.id)])
print("NEWEST-RUN", runs(a.id)[-1].id == run_a.id)
try:
    api.stop_job_run(project_id, a.id, run_a.id)
    print("STOP-FINISHED no error")
except cmlapi.rest.ApiException as exc:
    print("STOP-FINISHED", exc.status)
"""

WORKERS = """
import os, socket, time
import cdsw

def ask(host, port):
    for _ in range(300):
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"ping")
                return s.recv(100).decode()
        except OSError:
            time.sleep(0.1)
    raise SystemExit("no answer from %s:%s" % (host, port))

# Two workers, each a shell command serving TCP on a port of its own choosing.
serve = (
    "!python -c \\"import socket,sys; s=socket.socket(); "
    "s.bind(('0.0.0.0', int(sys.argv[1]))); "
    "s.listen(); print('LISTENING', sys.argv[1], flush=True)\\n"
    "while True:\\n c, _ = s.accept(); "
    "c.sendall(b'pong-' + sys.argv[1].encode()); c.close()\\" "
)
workers = cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, code=serve + "43211")
workers += cdsw.launch_workers(n=1, cpu=0.25, memory=0.5, code=serve + "43212")
ready = cdsw.await_workers(workers, wait_for_completion=False, timeout_seconds=180)
ips = [w["ip_address"] for w in ready["workers"]]
print("IPS", len(ips), all(ips), len(ready["failures"]))
# A third worker (Python code) reaches both; so does the parent.
probe = cdsw.launch_workers(1, 0.25, 0.5, code=(
    "import socket, time\\n"
    "for port in (43211, 43212):\\n"
    "    for _ in range(300):\\n"
    "        try:\\n"
    "            c = socket.create_connection(('%s', port), timeout=5); break\\n"
    "        except OSError: time.sleep(0.1)\\n"
    "    c.sendall(b'ping'); print('PROBE', c.recv(100).decode(), flush=True)\\n") % ips[0])
print("PROBED", [w["status"] for w in cdsw.await_workers(probe, timeout_seconds=180)["workers"]])
print("PARENT", ask(ips[0], 43211), ask(ips[1], 43212))
cdsw.stop_workers()
"""


def _lines(log: str, marker: str) -> list[str]:
    found = re.findall(rf"^{marker} (.*)$", log, re.MULTILINE)
    assert found, f"{marker} missing from the log:\n{log[-4000:]}"
    return found


def _run_job(
    platform: Platform,
    principal: Principal,
    project_id: str,
    job_id: str,
    tick_until: Callable[..., Any],
) -> str:
    run = jobs.trigger(platform, principal, project_id, job_id)

    def finished() -> Any:
        current = jobs.get_run(platform, principal, project_id, job_id, run.id)
        return current if current.status.is_final else None

    ended = tick_until(finished, "the job", timeout=600)
    log = jobs.run_log(platform, principal, project_id, job_id, run.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    return log


def _job_log(platform: Platform, principal: Principal, project_id: str, name: str) -> str:
    [job] = [j for j in jobs.list_jobs(platform, principal, project_id) if j.name == name]
    [run] = jobs.list_runs(platform, principal, project_id, job.id)
    return jobs.run_log(platform, principal, project_id, job.id, run.id)[0].decode()


def test_scenarios_2_4_5_environment_cmlapi_and_job_chain(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Conformance", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    for name, text in {
        "set_env.py": SET_ENV,
        "read_env.py": READ_ENV,
        "fail.py": FAIL,
        "driver.py": DRIVER,
    }.items():
        (root / name).write_text(text)
    driver = jobs.create(
        platform, principal, project.id, JobFields(name="driver", script="driver.py")
    )
    log = _run_job(platform, principal, project.id, driver.id, tick_until)

    # 4: lenient bodies, async_req, Cursor across pages, filter + sort, [-1] newest.
    assert _lines(log, "PARENTS") == ["True True True"]
    assert _lines(log, "NEWEST") == ["chain-d"]
    assert _lines(log, "CURSOR") == ["['driver', 'chain-a', 'chain-b', 'chain-c', 'chain-d']"]
    assert _lines(log, "SORTED") == ["['chain-d', 'chain-c', 'chain-b', 'chain-a']"]
    assert _lines(log, "NEWEST-RUN") == ["True"]
    # 5: the chain ran on success only; stopping a finished run is an ApiException.
    assert _lines(log, "A") == ["ENGINE_SUCCEEDED"]
    assert _lines(log, "B") == ["['ENGINE_SUCCEEDED']"]
    assert _lines(log, "C") == ["ENGINE_FAILED"]
    assert _lines(log, "D") == ["[]"]
    [stop] = _lines(log, "STOP-FINISHED")
    assert stop.isdigit() and 400 <= int(stop) < 500, stop
    # 2: API v1 GET/PUT of the environment (204, empty body), seen by the later task only.
    set_env = _job_log(platform, principal, project.id, "chain-a")
    assert _lines(set_env, "V1-GET") == ["200 None"]
    assert _lines(set_env, "V1-PUT") == ["204 ''"]
    assert _lines(set_env, "OWN-ENV") == ["unset"]
    read_env = _job_log(platform, principal, project.id, "chain-b")
    assert _lines(read_env, "READ-ENV") == ["set-by-an-earlier-task 1"]


def test_scenario_9_workers_reach_each_other_on_any_port(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Workers", source=projects.parse_source("", "")
    )
    (platform.settings.projects_dir / project.id / "main.py").write_text(WORKERS)
    job = jobs.create(platform, principal, project.id, JobFields(name="main", script="main.py"))
    log = _run_job(platform, principal, project.id, job.id, tick_until)
    assert _lines(log, "IPS") == ["2 True 0"]
    assert sorted(_lines(log, "LISTENING")) == ["43211", "43212"]
    assert sorted(_lines(log, "PROBE")) == ["pong-43211", "pong-43212"]
    assert _lines(log, "PROBED") == ["['succeeded']"]
    assert _lines(log, "PARENT") == ["pong-43211 pong-43212"]

"""The release gate (compat §15): each scenario walked as a user's project would, by real
jobs (and models) against a live server, written from the compatibility spec alone.

- 2 (§1.7, §8): a task calls API v1 ``GET``/``PUT …/environment`` (204); a later task
  reads the new variable.
- 4 (§6): ``cmlapi.default_client()`` with dict bodies, string numbers, unknown keys,
  ``async_req=True``, ``Cursor``, a sort and a filter; ``[-1]`` of a nested list is newest.
- 5 (§7): a job chain through ``parent_job_id`` runs on parent success only;
  ``stop_job_run`` on a finished run raises ``ApiException``.
- 3 (§3-§5): a model decorated with metrics, called through ``call_model`` and raw HTTP
  (both URL forms, with and without auth, a CORS preflight); delayed and aggregate metrics;
  ``read_metrics`` normalised with pandas.
- 6 (§5.5, §9): an MLflow run with autolog and ``log_model(artifact_path="artifacts")``, its
  artifacts under ``.experiments/<e>/<r>/artifacts/artifacts``, ``create_registered_model``,
  a registry build and deployment answering ``dataframe_split`` with a list. (3 and 6 share
  one job; slow: two builds and two deployments.)
- 9 (§12): ``launch_workers`` with a ``!`` command; ``await_workers(wait_for_completion=
  False)`` returns IPs; the workers reach each other on an arbitrary port.

Scenarios 2, 4 and 5 share one driver job (one project, as an automation script would).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.tracking.live import LiveServer

from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.services import auth, job_runs, jobs, projects
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
if ready["failures"]:  # why, in the job's log (the test prints its end when it fails)
    print("WORKER-FAILURES", ready["failures"])
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
    timeout: float = 600,
) -> str:
    run = job_runs.trigger(platform, principal, project_id, job_id)

    def finished() -> Any:
        current = job_runs.get_run(platform, principal, project_id, job_id, run.id)
        return current if current.status.is_final else None

    ended = tick_until(finished, "the job", timeout=timeout)
    log = job_runs.run_log(platform, principal, project_id, job_id, run.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    return log


def _job_log(platform: Platform, principal: Principal, project_id: str, name: str) -> str:
    [job] = [j for j in jobs.list_jobs(platform, principal, project_id) if j.name == name]
    [run] = job_runs.list_runs(platform, principal, project_id, job.id)
    return job_runs.run_log(platform, principal, project_id, job.id, run.id)[0].decode()


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


PREDICT = """
import cdsw


@cdsw.model_metrics
def predict(args):
    cdsw.track_metric("input_data", {"x": args["x"], "gender": "f"})
    return {"score": args["x"] * 0.5}
"""

MODELS = """
import os, time
import mlflow, mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression
import cdsw, cmlapi
from cml import models_v1

project_id = os.environ["CDSW_PROJECT_ID"]
api = cmlapi.default_client()

# 6: autolog, log_model(artifact_path="artifacts"), the registry.
mlflow.set_experiment("conformance-clf")
mlflow.autolog()
X = pd.DataFrame({"a": [0.0, 1, 2, 3, 4, 5, 6, 7], "b": [1.0, 0, 1, 0, 1, 0, 1, 0]})
y = [0, 0, 0, 0, 1, 1, 1, 1]
with mlflow.start_run() as run:
    clf = LogisticRegression().fit(X, y)
    mlflow.sklearn.log_model(clf, artifact_path="artifacts")
e, r = run.info.experiment_id, run.info.run_id
print("RUN", e, r)
print("AUTOLOGGED", "training_score" in mlflow.get_run(r).data.metrics)
registered = api.create_registered_model({
    "project_id": project_id, "experiment_id": e, "run_id": r,
    "model_name": "conformance-clf", "model_path": "artifacts",
})
version_id = registered.model_versions[0].model_version_id

def wait(get, done, what):
    deadline = time.time() + 900
    while time.time() < deadline:
        found = get()
        if found.status in done:
            return found
        time.sleep(2)
    raise SystemExit("timed out waiting for " + what)

def deploy(model, build_body):
    build = api.create_model_build(build_body, project_id, model.id)
    build = wait(lambda: api.get_model_build(project_id, model.id, build.id),
                 ("built", "build failed"), "the build")
    print("BUILD", model.name, build.status, flush=True)
    dep = api.create_model_deployment({"cpu": "0.5", "memory": "1"}, project_id, model.id,
                                      build.id)
    dep = wait(lambda: api.get_model_deployment(project_id, model.id, build.id, dep.id),
               ("deployed", "failed"), "the deployment")
    print("DEPLOY", model.name, dep.status, flush=True)
    return dep

clf_model = api.create_model({"project_id": project_id, "name": "clf",
                              "disable_authentication": True,
                              "registered_model_id": registered.model_id}, project_id)
deploy(clf_model, {"registered_model_version_id": version_id, "cpu": "1", "mem": "2"})
rows = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.0, 1.0], [7.0, 0.0]]}}
answer = cdsw.call_model(clf_model.access_key, rows)
print("CLF", type(answer["response"]["prediction"]).__name__,
      answer["response"]["prediction"], bool(answer["response"]["uuid"]))

# 3: a model decorated with metrics, call_model, delayed and aggregate metrics, read_metrics.
scorer = api.create_model({"project_id": project_id, "name": "scorer",
                           "disable_authentication": False}, project_id)
dep = deploy(scorer, {"file_path": "predict.py", "function_name": "predict",
                      "kernel": "python3"})
first = cdsw.call_model(scorer.access_key, {"x": 4})
second = models_v1.call_model(model_access_key=scorer.access_key, ipt={"x": 6})
print("SCORES", first["response"]["prediction"]["score"],
      second["response"]["prediction"]["score"])
uuid = first["response"]["uuid"]
cdsw.track_delayed_metrics({"label": 1}, uuid)
now = int(time.time() * 1000)
cdsw.track_aggregate_metrics({"accuracy": 0.79}, now - 60000, now, model_deployment_crn=dep.crn)
out = cdsw.read_metrics(model_deployment_crn=dep.crn, start_timestamp_ms=0,
                        end_timestamp_ms=now + 1000)
df = pd.json_normalize(out["metrics"])
print("COLUMNS", *sorted(c for c in df.columns if c.startswith("metrics.")))
print("ROWS", len(df), int((df.predictionUuid == "").sum()))
print("AGG", df.dropna(subset=["metrics.accuracy"])["metrics.accuracy"].tolist())
mine = df[df.predictionUuid.isin([uuid])]
print("DELAYED", mine["metrics.label"].tolist(), mine["metrics.input_data.gender"].tolist())
print("LATENCY", bool(((df.endTimeStampMs - df.startTimeStampMs) >= 0).all()))
print("KEYS", clf_model.access_key, scorer.access_key)
"""


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_scenarios_3_6_metrics_model_and_registry_model(
    sdk_server: LiveServer, sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Models", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "predict.py").write_text(PREDICT)
    (root / "models.py").write_text(MODELS)
    job = jobs.create(platform, principal, project.id, JobFields(name="models", script="models.py"))
    log = _run_job(platform, principal, project.id, job.id, tick_until, timeout=1200)

    # 6: artifacts under .experiments/<e>/<r>/artifacts/artifacts; a registry build that
    # answers dataframe_split with a list.
    [run] = _lines(log, "RUN")
    experiment_id, run_id = run.split()
    assert (
        root / ".experiments" / experiment_id / run_id / "artifacts/artifacts/MLmodel"
    ).is_file()
    assert _lines(log, "AUTOLOGGED") == ["True"]
    assert _lines(log, "BUILD") == ["clf built", "scorer built"]
    assert _lines(log, "DEPLOY") == ["clf deployed", "scorer deployed"]
    assert _lines(log, "CLF") == ["list [0, 1] True"]
    # 3: call_model both ways; delayed and aggregate metrics in read_metrics, normalised.
    assert _lines(log, "SCORES") == ["2.0 3.0"]
    [columns] = _lines(log, "COLUMNS")
    assert set(columns.split()) >= {
        "metrics.accuracy",
        "metrics.label",
        "metrics.input_data.x",
        "metrics.input_data.gender",
    }
    assert _lines(log, "ROWS") == ["3 1"]
    assert _lines(log, "AGG") == ["[0.79]"]
    assert _lines(log, "DELAYED") == ["[1.0] ['f']"]
    assert _lines(log, "LATENCY") == ["True"]
    [keys] = _lines(log, "KEYS")
    clf_key, scorer_key = keys.split()

    # Raw HTTP from outside: both URL forms, with and without auth, a CORS preflight.
    url = f"{sdk_server.url}/model"
    key = auth.create_api_key(platform, Principal(user=alice, via="cli"), alice.username)
    bearer = {"Authorization": f"Bearer {key.secret}"}
    body_form = httpx.post(url, json={"accessKey": scorer_key, "request": {"x": 2}}, headers=bearer)
    assert body_form.status_code == 200, body_form.text
    assert body_form.json()["response"]["prediction"] == {"score": 1.0}
    query_form = httpx.post(
        url, params={"accessKey": scorer_key}, json={"request": {"x": 2}}, headers=bearer
    )
    assert query_form.status_code == 200, query_form.text
    anonymous = httpx.post(url, json={"accessKey": scorer_key, "request": {"x": 2}})
    assert anonymous.status_code in (401, 403), anonymous.text
    assert anonymous.json()["success"] is False
    open_model = httpx.post(
        url,
        json={
            "accessKey": clf_key,
            "request": {"dataframe_split": {"columns": ["a", "b"], "data": [[7.0, 0.0]]}},
        },
    )
    assert open_model.status_code == 200 and open_model.json()["response"]["prediction"] == [1]
    origin = f"http://app.{platform.settings.domain}"
    preflight = httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] in (origin, "*")
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed and "authorization" in allowed

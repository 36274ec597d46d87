"""``cml.metrics_v1`` / ``cdsw`` model metrics functions in the real runtime, against a real
Lakeworks server on a loopback port: reads, delayed and aggregate writes, errors, the dev
store, ``track_metric`` inside a prediction, and a real job that labels earlier predictions."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from tests.metrics.support import Deployed, make_deployment, make_project

from lakeworks.config import Settings
from lakeworks.entities.jobs import FINAL_RUN_STATUSES, RunStatus
from lakeworks.entities.metrics import PredictionRecord
from lakeworks.entities.models import crn
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import auth, job_runs, jobs, model_metrics, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store
from runtimes.shared import RUNTIME_CACHE

Result = Callable[..., object]


@dataclass
class Server:
    url: str
    app: FastAPI
    platform: Platform


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[Server]:
    from lakeworks.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    live = settings.model_copy(update={"public_url": url, "runtimes_dir": RUNTIME_CACHE})
    app = create_app(live, store)
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield Server(url, app, app.state.platform)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def alice(server: Server) -> User:
    from lakeworks.services import users

    return users.create_user(
        server.platform, None, username="alice", password="correct horse battery"
    )


@pytest.fixture
def deployed(server: Server, alice: User) -> Deployed:
    return make_deployment(server.platform, alice, make_project(server.platform, alice))


def predictions(server: Server, d: Deployed, count: int, start: int = 10_000) -> list[str]:
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    for i, u in enumerate(uuids):
        server.app.state.metrics.submit_prediction(
            PredictionRecord(
                d.deployment_id,
                d.build_id,
                d.model_id,
                u,
                start + i * 10,
                start + i * 10 + 5,
                {"prediction": i % 2, "input_data": {"age": 30 + i}},
            )
        )
    return uuids  # still queued: the library's writes must not lose them


def workload_env(server: Server, alice: User, d: Deployed) -> dict[str, str]:
    key = auth.create_workload_key(
        server.platform, alice, d.project.id, timedelta(hours=1), ApiKeyKind.V2
    )
    return {
        "CDSW_API_URL": server.url + "/api/v1",
        "CDSW_APIV2_KEY": key.secret,
        "DEPLOYMENT_CRN": crn(d.deployment_id),
    }


LIBRARY_SCRIPT = r"""
import json, os, sys
import cdsw
from cml import metrics_v1

crn = os.environ["DEPLOYMENT_CRN"]
uuids = json.load(open("uuids.json"))
out = {}

# Positional and keyword forms, through both import paths.
cdsw.track_delayed_metrics({"actual": 1}, uuids[0])
metrics_v1.track_delayed_metrics(metrics={"actual": 0}, prediction_uuid=uuids[1])
cdsw.track_aggregate_metrics({"accuracy": 0.5}, 10_000, 10_100, crn)
try:
    cdsw.track_delayed_metrics({"actual": 1}, "no-such-uuid")
except ValueError as exc:
    out["unknown"] = str(exc)

data = cdsw.read_metrics(crn, 10_000)  # read-your-writes: both delayed writes visible
out["records"] = data["metrics"]
out["window"] = metrics_v1.read_metrics(
    model_deployment_crn=crn, start_timestamp_ms=10_010, end_timestamp_ms=10_024
)["metrics"]
try:
    cdsw.read_metrics()  # no CRN outside a replica
except ValueError as exc:
    out["no_crn"] = str(exc)

# The dev store: same shapes, in memory.
cdsw.track_aggregate_metrics({"rmse": 2.5}, 1, 2, dev=True)
out["dev"] = cdsw.read_metrics(dev=True)["metrics"]

# track_metric inside a prediction goes on its record (nested dicts kept).
from cml._model_context import _metrics
record = {}
token = _metrics.set(record)
cdsw.track_metric("input_data", {"gender": "f"})
cdsw.track_metric("probability", 0.8)
_metrics.reset(token)
out["in_prediction"] = record
print(json.dumps(out))
"""


def test_the_library_reads_and_writes_the_store_of_a_real_server(
    server: Server,
    alice: User,
    deployed: Deployed,
    run_script: Callable[..., object],
    project: Path,
) -> None:
    uuids = predictions(server, deployed, 3)
    (project / "uuids.json").write_text(json.dumps(uuids))
    result = run_script(LIBRARY_SCRIPT, **workload_env(server, alice, deployed))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    out = json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]

    records = out["records"]
    assert [r["predictionUuid"] for r in records] == [uuids[0], "", uuids[1], uuids[2]]
    assert records[0]["metrics"] == {"prediction": 0, "input_data": {"age": 30}, "actual": 1}
    assert records[2]["metrics"]["actual"] == 0
    assert records[1]["metrics"] == {"accuracy": 0.5}
    assert records[1]["modelCrn"] == crn(deployed.model_id)
    assert set(records[0]) == {
        "modelDeploymentCrn",
        "modelBuildCrn",
        "modelCrn",
        "startTimeStampMs",
        "endTimeStampMs",
        "predictionUuid",
        "metrics",
    }
    assert [r["predictionUuid"] for r in out["window"]] == [uuids[1]]
    assert "no-such-uuid" in out["unknown"]
    assert "model_deployment_crn" in out["no_crn"]
    assert [r["metrics"] for r in out["dev"]] == [{"rmse": 2.5}]
    assert out["dev"][0]["predictionUuid"] == ""
    assert out["in_prediction"] == {"input_data": {"gender": "f"}, "probability": 0.8}


def test_a_key_of_another_project_is_refused_in_the_library(
    server: Server, alice: User, deployed: Deployed, run_script: Callable[..., object]
) -> None:
    from lakeworks.services import users

    (u,) = predictions(server, deployed, 1)
    # A workload key acts with its user's rights (issue 14 #8, CML), so the refused key is one
    # of another project whose user has no role on the model's project.
    bob = users.create_user(server.platform, None, username="bob", password="correct horse battery")
    other = make_project(server.platform, bob, "Other")
    env = workload_env(server, alice, deployed)
    env["CDSW_APIV2_KEY"] = auth.create_workload_key(
        server.platform, bob, other.id, timedelta(hours=1), ApiKeyKind.V2
    ).secret
    result = run_script(
        "import cdsw, os, sys\n"
        "try:\n"
        f"    cdsw.track_delayed_metrics({{'actual': 1}}, {u!r})\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n",
        **env,
    )
    assert "refused:" in result.stdout, result.stderr  # type: ignore[attr-defined]
    server.app.state.metrics.flush()
    with server.platform.read() as uow:
        stored = uow.model_metrics.by_uuid(u)
    assert stored is not None and "actual" not in stored.metrics()


JOB_SCRIPT = """
import json, os
import cdsw

labels = json.load(open("labels.json"))
for prediction_uuid, actual in labels.items():
    cdsw.track_delayed_metrics({"actual": actual}, prediction_uuid)
records = cdsw.read_metrics(model_deployment_crn=os.environ["DEPLOYMENT_CRN"])["metrics"]
print("labelled", sum(1 for r in records if "actual" in r["metrics"]))
"""


def test_a_real_job_tracks_delayed_ground_truth_for_earlier_predictions(
    server: Server, alice: User, deployed: Deployed, runtime: Path
) -> None:
    platform = server.platform
    uuids = predictions(server, deployed, 4)
    server.app.state.metrics.flush()
    root = platform.settings.projects_dir / deployed.project.id
    (root / "labels.json").write_text(json.dumps({u: 1 for u in uuids}))
    (root / "label.py").write_text(JOB_SCRIPT)
    owner = Principal(user=alice, via="cli")
    job = jobs.create(
        platform,
        owner,
        deployed.project.id,
        JobFields(
            name="Label",
            script="label.py",
            memory_mb=512,
            environment={"DEPLOYMENT_CRN": crn(deployed.deployment_id)},
        ),
    )
    run = job_runs.trigger(platform, owner, deployed.project.id, job.id)
    scheduler = Scheduler(platform)
    try:
        deadline = time.monotonic() + 120
        while True:
            scheduler.tick(wait=True)
            with platform.read() as uow:
                current = uow.jobs.get_run(run.id)
            assert current is not None
            if current.status in FINAL_RUN_STATUSES:
                break
            assert time.monotonic() < deadline, f"run stuck in {current.status}"
            time.sleep(0.2)
    finally:
        scheduler.stop()
    assert current.workload_id
    log, _ = workloads.read_log(platform, workloads.get(platform, current.workload_id))
    assert current.status is RunStatus.SUCCEEDED, log.decode()
    assert "labelled 4" in log.decode()

    view = model_metrics.monitoring(
        platform, owner, deployed.model_id, window="7d", end_ms=100_000 + 6 * 86_400_000
    )
    assert view.truth_key == "actual" and view.prediction_key == "prediction"
    assert view.accuracy is not None and view.accuracy.labelled == 4
    assert view.accuracy.correct == 2  # predictions alternate 0, 1; the truth is always 1


def test_a_session_without_a_deployment_uses_the_dev_store(
    run_python: Callable[..., object],
) -> None:
    code = (
        "import cdsw, json\n"
        "cdsw.track_aggregate_metrics({'accuracy': 0.7}, 1, 2)\n"
        "print(json.dumps(cdsw.read_metrics()))\n"
        "try:\n"
        "    cdsw.track_delayed_metrics({'actual': 1}, 'nope', dev=True)\n"
        "except ValueError as exc:\n"
        "    print('ValueError', exc)\n"
    )
    # A port nothing listens on: the calls must not need the server.
    result = run_python(code, CDSW_ENGINE_TYPE="session", CDSW_API_URL="http://127.0.0.1:9/api/v1")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    lines = result.stdout.strip().splitlines()  # type: ignore[attr-defined]
    (record,) = json.loads(lines[0])["metrics"]
    assert record["metrics"] == {"accuracy": 0.7} and record["predictionUuid"] == ""
    assert lines[1].startswith("ValueError") and "nope" in lines[1]

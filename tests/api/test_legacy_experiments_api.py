"""Legacy experiments (CDSW's Run Experiment, compat §3.4) over API v2: a real run of a script
with arguments that tracks numeric, string, dict, list and bool metrics and a file, with the
script edited after launch (the run ran from its snapshot); bad input; who may do what; audit."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.workload_cleanup import stop_live_workloads

from lakeworks import bounds
from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services.platform import Platform
from lakeworks.store.uow import Store

Headers = dict[str, str]

TRAIN = """
import argparse, os
import cdsw

VERSION = "{version}"
parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("label")
args = parser.parse_args()
print("VERSION", VERSION, "ALPHA", args.alpha, "LABEL", args.label, flush=True)
print("ENGINE", os.environ["CDSW_ENGINE_TYPE"], "EXPERIMENT", os.environ["CDSW_EXPERIMENT_ID"])
cdsw.track_metric("alpha", args.alpha)
cdsw.track_metric("accuracy", 0.5)
cdsw.track_metric("accuracy", round(0.5 + args.alpha, 3))  # the last value is shown
cdsw.track_metric("label", args.label)
cdsw.track_metric("version", VERSION)
cdsw.track_metric("params", {{"depth": 3, "kind": "tree"}})
cdsw.track_metric("scores", [1, 2, 3])
cdsw.track_metric("converged", True)
os.makedirs("out", exist_ok=True)
with open("out/model.txt", "w") as handle:
    handle.write("weights of " + VERSION + "\\n")
cdsw.track_file("out/model.txt")
with open("written_by_the_run.txt", "w") as handle:
    handle.write("stays in the run's copy\\n")
# A hostile run plants a link among its tracked files: the server must not follow it.
os.symlink("/etc/passwd", os.environ["LAKEWORKS_OUTPUT_DIR"] + "/files/passwd")
"""


@pytest.fixture
def lw(settings: Settings, store: Store) -> Iterator[tuple[TestClient, Platform]]:
    from lakeworks.app import create_app

    app = create_app(settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE}), store)
    platform: Platform = app.state.platform
    with TestClient(app, base_url="http://testserver") as client:
        yield client, platform
    stop_live_workloads(platform)


def _project(client: TestClient, headers: Headers, platform: Platform) -> str:
    created = client.post("/api/v2/projects", headers=headers, json={"name": "Legacy"})
    assert created.status_code == 200, created.text
    pid = str(created.json()["id"])
    root = platform.settings.projects_dir / pid
    (root / "train.py").write_text(TRAIN.format(version="original"))
    (root / "data.csv").write_text("a,b\n1,2\n")
    return pid


def _wait(client: TestClient, platform: Platform, url: str, headers: Headers) -> dict[str, Any]:
    scheduler = Scheduler(platform)
    deadline = time.monotonic() + 600  # a first run may build the runtime
    try:
        while True:
            scheduler.tick(wait=True)
            run = client.get(url, headers=headers).json()
            if run["status"] in ("ENGINE_SUCCEEDED", "ENGINE_FAILED", "ENGINE_STOPPED"):
                return dict(run)
            assert time.monotonic() < deadline, f"run stuck: {run}"
            time.sleep(0.2)
    finally:
        scheduler.stop()


@pytest.mark.timeout(900)
def test_a_run_tracks_metrics_and_files_from_its_snapshot(
    lw: tuple[TestClient, Platform],
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    client, platform = lw
    alice = api_headers(make_user("alice"))
    pid = _project(client, alice, platform)
    base = f"/api/v2/projects/{pid}/legacy_experiments"

    launched = client.post(
        base,
        headers=alice,
        json={"script": "train.py", "arguments": "--alpha 0.25 'two words'", "memory": 1},
    )
    assert launched.status_code == 200, launched.text
    run = launched.json()
    assert run["status"] == "ENGINE_SCHEDULING" and run["script"] == "train.py"
    assert run["arguments"] == "--alpha 0.25 'two words'" and run["memory"] == 1
    # Edited after launch, before the run starts: the run must not see it.
    root = platform.settings.projects_dir / pid
    (root / "train.py").write_text(TRAIN.format(version="edited"))

    done = _wait(client, platform, f"{base}/{run['id']}", alice)
    log = client.get(f"{base}/{run['id']}/logs", headers=alice).json()
    assert done["status"] == "ENGINE_SUCCEEDED", (done, log["text"])
    assert "VERSION original ALPHA 0.25 LABEL two words" in log["text"]
    assert f"ENGINE experiment EXPERIMENT {run['id']}" in log["text"]
    assert log["finished"] is True and done["exit_code"] == 0
    assert done["metrics"] == {
        "alpha": 0.25,
        "accuracy": 0.75,
        "label": "two words",
        "version": "original",
        "params": {"depth": 3, "kind": "tree"},
        "scores": [1, 2, 3],
        "converged": True,
    }
    history = [(m["key"], m["value"]) for m in done["metric_history"]]
    assert history[1:3] == [("accuracy", 0.5), ("accuracy", 0.75)]

    # The list: newest first, one column per metric key, in the order first tracked.
    listed = client.get(base, headers=alice).json()
    assert [r["id"] for r in listed["legacy_experiments"]] == [run["id"]]
    assert listed["metric_keys"] == [
        "alpha",
        "accuracy",
        "label",
        "version",
        "params",
        "scores",
        "converged",
    ]

    # Tracked files: listed and downloadable.
    tracked = client.get(f"{base}/{run['id']}/files", headers=alice).json()["files"]
    assert [f["path"] for f in tracked] == ["out/model.txt"]
    got = client.get(f"{base}/{run['id']}/files/out/model.txt", headers=alice)
    assert got.status_code == 200 and got.content == b"weights of original\n"
    assert client.get(f"{base}/{run['id']}/files/out/nothing.txt", headers=alice).status_code == 404
    assert client.get(f"{base}/{run['id']}/files/../x", headers=alice).status_code in (400, 404)
    planted = client.get(f"{base}/{run['id']}/files/passwd", headers=alice)
    assert planted.status_code == 400 and "root:" not in planted.text
    long_name = client.get(f"{base}/{run['id']}/files/{'a' * 300}", headers=alice)
    assert long_name.status_code in (400, 404)

    # The snapshot is the files as they were at launch; the project keeps the edit, and what
    # the run wrote stayed in its own copy.
    snapshot = client.get(f"{base}/{run['id']}/snapshot", headers=alice).json()["files"]
    assert sorted(f["path"] for f in snapshot) == ["data.csv", "train.py"]
    original = client.get(f"{base}/{run['id']}/snapshot/train.py", headers=alice).content
    assert b'VERSION = "original"' in original
    assert 'VERSION = "edited"' in (root / "train.py").read_text()
    assert not (root / "written_by_the_run.txt").exists() and not (root / "out").exists()

    # A legacy run is not one of the project's jobs.
    assert client.get(f"/api/v2/projects/{pid}/jobs", headers=alice).json()["jobs"] == []

    # A second run (after the edit) runs the edited script.
    second = client.post(
        base, headers=alice, json={"script": "train.py", "arguments": "--alpha 1 b"}
    ).json()
    done = _wait(client, platform, f"{base}/{second['id']}", alice)
    assert done["metrics"]["version"] == "edited" and done["metrics"]["accuracy"] == 1.5
    listed = client.get(base, headers=alice).json()["legacy_experiments"]
    assert [r["id"] for r in listed] == [second["id"], run["id"]]


def test_bad_input_is_refused_with_4xx(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    alice = api_headers(make_user("alice"))
    pid = _project(client, alice, platform)
    root = platform.settings.projects_dir / pid
    os.symlink("/etc/passwd", root / "evil.py")
    base = f"/api/v2/projects/{pid}/legacy_experiments"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"script": "missing.py"}, "does not exist"),
        ({"script": "../outside.py"}, "leaves the project"),
        ({"script": "/etc/passwd"}, "absolute path"),
        ({"script": "data.csv"}, "not a script"),
        ({"script": "evil.py"}, "does not exist"),  # a link is not followed
        ({"script": ""}, "needs a script"),
        ({"script": "train.py", "nvidia_gpu": 1}, "GPUs"),
        ({"script": "train.py", "cpu": 0}, "cpu"),
        ({"script": "train.py", "cpu": bounds.MAX_CPU * 10}, "cpu"),
        ({"script": "train.py", "memory": 1e9}, "memory"),
        ({"script": "train.py", "arguments": "x" * (bounds.MAX_TEXT + 1)}, "arguments"),
        ({"script": "train.py", "comment": "c" * (bounds.MAX_NAME + 1)}, "comment"),
    ]
    for body, words in cases:
        answer = client.post(base, headers=alice, json=body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
        assert words.lower() in answer.text.lower(), (body, answer.text)
    assert client.post(base, headers=alice, content=b"{not json").status_code in (400, 422)
    # Nothing was launched, and no snapshot left behind.
    assert client.get(base, headers=alice).json()["legacy_experiments"] == []
    assert not any((platform.settings.data_dir / "experiments" / pid).glob("*"))
    assert client.get(f"{base}/nope", headers=alice).status_code == 404
    assert client.get(f"{base}/{'x' * 5000}", headers=alice).status_code == 404
    assert client.get(f"{base}/nope/logs", headers=alice).status_code == 404
    assert client.get("/api/v2/projects/nope/legacy_experiments", headers=alice).status_code == 404

    # Odd bodies and paths: a 4xx each, never a server error.
    for odd in (
        [],
        {"script": 123},
        {"script": "train.py", "cpu": "abc"},
        {"memory": -1},
        {"script": "train.py", "nvidia_gpu": 1.5},
        {"script": "a\u0000.py"},
    ):
        answer = client.post(base, headers=alice, json=odd)
        assert 400 <= answer.status_code < 500, (odd, answer.status_code, answer.text)
    made = client.post(base, headers=alice, json={"script": "train.py"}).json()["id"]
    for odd_path in (
        "%00",
        "a" * 300,
        "%2e%2e/x",
        "a/%2e%2e/%2e%2e/x",
        "é/ü.txt",
        "a//b",
        "x%2Fy",
        "\\",
    ):
        for what in ("files", "snapshot"):
            answer = client.get(f"{base}/{made}/{what}/{odd_path}", headers=alice)
            assert 400 <= answer.status_code < 500, (what, odd_path, answer.status_code)
    for odd_offset in ("-1", "x", str(2**70)):
        answer = client.get(f"{base}/{made}/logs?offset={odd_offset}", headers=alice)
        assert 400 <= answer.status_code < 500, (odd_offset, answer.status_code)


def test_viewers_see_contributors_run_and_it_is_audited(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    alice = api_headers(make_user("alice"))
    pid = _project(client, alice, platform)
    heads = {name: api_headers(make_user(name)) for name in ("vera", "otto", "cora", "xavier")}
    for name, permission in (("vera", "read"), ("otto", "operator"), ("cora", "write")):
        client.put(
            f"/api/v2/projects/{pid}/collaborators/{name}",
            headers=alice,
            json={"permission": permission},
        ).raise_for_status()
    base = f"/api/v2/projects/{pid}/legacy_experiments"
    body = {"script": "train.py", "arguments": "--alpha 1 x"}
    assert client.post(base, headers=heads["vera"], json=body).status_code == 403
    assert client.post(base, headers=heads["otto"], json=body).status_code == 403
    assert client.post(base, headers=heads["xavier"], json=body).status_code == 404
    made = client.post(base, headers=heads["cora"], json=body)
    assert made.status_code == 200, made.text
    run_id = made.json()["id"]
    for name in ("vera", "otto", "cora"):
        assert client.get(base, headers=heads[name]).json()["legacy_experiments"][0]["id"] == run_id
        assert client.get(f"{base}/{run_id}", headers=heads[name]).status_code == 200
        listed = client.get(f"{base}/{run_id}/snapshot", headers=heads[name])
        assert listed.status_code == 200
    assert client.get(base, headers=heads["xavier"]).status_code == 404
    assert client.get(f"{base}/{run_id}", headers=heads["xavier"]).status_code == 404
    # Viewers cannot stop it; operators can (it has not started: it stops at once).
    assert client.post(f"{base}/{run_id}/stop", headers=heads["vera"]).status_code == 403
    stopped = client.post(f"{base}/{run_id}/stop", headers=heads["otto"])
    assert stopped.status_code == 200 and stopped.json()["status"] == "ENGINE_STOPPED"
    assert client.post(f"{base}/{run_id}/stop", headers=heads["otto"]).status_code == 409
    # The run's hidden job is no job of the project's, by id either.
    with platform.read() as uow:
        job_id = uow.jobs.get_run(run_id).job_id  # type: ignore[union-attr]
    assert client.get(f"/api/v2/projects/{pid}/jobs/{job_id}", headers=alice).status_code == 404
    root_headers = api_headers(make_user("boss", is_admin=True))
    events = client.get(
        "/api/v2/audit_events",
        headers=root_headers,
        params={"search_filter": json.dumps({"project_id": pid})},
    ).json()["audit_events"]
    seen = [(e["actor"], e["action"], e["outcome"]) for e in events]
    assert ("cora", "experiment_run.create", "success") in seen
    assert ("otto", "experiment_run.stop", "success") in seen
    assert ("vera", "experiment_run.create", "denied") in seen
    assert ("vera", "experiment_run.stop", "denied") in seen


@pytest.mark.timeout(900)
def test_the_build_step_runs_cdsw_build_sh_first(
    lw: tuple[TestClient, Platform],
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    client, platform = lw
    alice = api_headers(make_user("alice"))
    pid = _project(client, alice, platform)
    root = platform.settings.projects_dir / pid
    # CRLF line endings, as a file saved on Windows (compat §1.5).
    (root / "cdsw-build.sh").write_bytes(b"echo building\r\necho from-build > built.txt\r\n")
    (root / "uses_build.py").write_text(
        "import cdsw\ncdsw.track_metric('built', open('built.txt').read().strip())\n"
    )
    base = f"/api/v2/projects/{pid}/legacy_experiments"
    run = client.post(base, headers=alice, json={"script": "uses_build.py"}).json()
    done = _wait(client, platform, f"{base}/{run['id']}", alice)
    log = client.get(f"{base}/{run['id']}/logs", headers=alice).json()["text"]
    assert done["status"] == "ENGINE_SUCCEEDED", (done, log)
    assert done["metrics"] == {"built": "from-build"} and "building" in log
    assert not (root / "built.txt").exists()  # built in the run's copy only

    (root / "cdsw-build.sh").write_text("echo broken build\nexit 3\n")
    run = client.post(base, headers=alice, json={"script": "uses_build.py"}).json()
    done = _wait(client, platform, f"{base}/{run['id']}", alice)
    log = client.get(f"{base}/{run['id']}/logs", headers=alice).json()["text"]
    assert done["status"] == "ENGINE_FAILED" and done["exit_code"] == 3, (done, log)
    assert "broken build" in log and "cdsw-build.sh exited with 3" in log
    assert done["metrics"] == {}

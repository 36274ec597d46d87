"""API v2 jobs and runs: CML shapes and lenient bodies. No processes start here (the
scheduler is off in these tests); tests/scheduler runs real jobs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.users import User

Headers = dict[str, str]


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def project(client: TestClient, alice: Headers) -> str:
    pid = client.post("/api/v2/projects", headers=alice, json={"name": "Jobs"}).json()["id"]
    for name in ("train.py", "report.ipynb", "etl.sh"):
        client.put(f"/api/v2/projects/{pid}/files/{name}", headers=alice, content=b"print(1)\n")
    return str(pid)


def test_create_and_get_job_shape(client: TestClient, alice: Headers, project: str) -> None:
    body = {
        "project_id": project,
        "name": "Train",
        "script": "train.py",
        "cpu": "2",
        "memory": "4",
        "kernel": "python3",
        "arguments": "--epochs 3",
        "environment": json.dumps({"A": 1}),
        "timeout": "600",
        "kill_on_timeout": "true",
        "schedule": "0 9 * * 1-5",
        "timezone": "Europe/Madrid",
        "nvidia_gpu": 0,
        "runtime_addon_identifiers": ["spark320-18-hf4"],
        "unknown": {"x": 1},
        "recipients": [{"email": "a@example.org", "notify_on_success": True}],
    }
    response = client.post(f"/api/v2/projects/{project}/jobs", headers=alice, json=body)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["type"] == "cron" and job["schedule"] == "0 9 * * 1-5"
    assert job["english_schedule"] == "At 09:00, Monday through Friday"
    assert job["cpu"] == 2.0 and job["memory"] == 4.0 and job["timeout"] == 600
    assert json.loads(job["environment"]) == {"A": "1"}
    assert job["parent_id"] == "" and job["next_fire_at"].endswith("Z")
    assert job["recipients"][0]["notify_on_success"] is True
    assert (
        client.get(f"/api/v2/projects/{project}/jobs/{job['id']}", headers=alice).json()["name"]
        == "Train"
    )


def test_dependent_jobs_and_bad_input(client: TestClient, alice: Headers, project: str) -> None:
    base = f"/api/v2/projects/{project}/jobs"
    parent = client.post(base, headers=alice, json={"name": "P", "script": "train.py"}).json()
    child = client.post(
        base, headers=alice, json={"name": "C", "script": "etl.sh", "parent_job_id": parent["id"]}
    ).json()
    assert child["type"] == "dependent" and child["parent_id"] == parent["id"]
    cases = [
        ({"name": "X", "script": "train.py", "schedule": "every day"}, "cron"),
        (
            {"name": "X", "script": "train.py", "schedule": "0 * * * *", "parent_id": parent["id"]},
            "not both",
        ),
        ({"name": "X", "script": "nope.py"}, "does not exist"),
        ({"name": "X"}, "needs a script"),
        ({"name": "X", "script": "train.py", "parent_id": "zzzz-zzzz-zzzz-zzzz"}, "not a job"),
    ]
    for body, fragment in cases:
        response = client.post(base, headers=alice, json=body)
        assert response.status_code == 400, body
        assert fragment in response.json()["message"], response.json()
    cycle = client.patch(
        f"{base}/{parent['id']}", headers=alice, json={"parent_job_id": child["id"]}
    )
    assert cycle.status_code == 400 and "cycle" in cycle.json()["message"]
    # Clearing the parent with "" makes the job manual again.
    cleared = client.patch(f"{base}/{child['id']}", headers=alice, json={"parent_id": ""})
    assert cleared.json()["type"] == "manual"
    listed = client.get(base, headers=alice).json()
    assert [j["name"] for j in listed["jobs"]] == ["P", "C"]


def test_runs_lifecycle_without_processes(client: TestClient, alice: Headers, project: str) -> None:
    base = f"/api/v2/projects/{project}/jobs"
    job = client.post(base, headers=alice, json={"name": "J", "script": "train.py"}).json()
    runs = f"{base}/{job['id']}/runs"
    first = client.post(runs, headers=alice, json={"arguments": "--fast"})
    assert first.status_code == 200, first.text
    run = first.json()
    assert run["status"] == "ENGINE_SCHEDULING" and run["arguments"] == "--fast"
    assert run["trigger"] == "api"
    busy = client.post(runs, headers=alice, json={})
    assert busy.status_code == 409 and "still scheduled" in busy.json()["message"]
    stopped = client.post(f"{runs}/{run['id']}:stop", headers=alice)
    assert stopped.json()["status"] == "ENGINE_STOPPED"
    again = client.post(f"{runs}/{run['id']}:stop", headers=alice)
    assert again.status_code == 409 and "already ended" in again.json()["message"]
    # A full CreateJobRequest as a run body is accepted (extra keys ignored).
    second = client.post(runs, headers=alice, json=job | {"project_id": project}).json()
    listing = client.get(runs, headers=alice).json()["job_runs"]
    assert [r["id"] for r in listing] == [run["id"], second["id"]]  # oldest first
    newest = client.get(runs, headers=alice, params={"sort": "-created_at", "page_size": 1})
    assert newest.json()["job_runs"][0]["id"] == second["id"]
    by_status = client.get(
        runs, headers=alice, params={"search_filter": json.dumps({"status": "stopped"})}
    ).json()
    assert [r["id"] for r in by_status["job_runs"]] == [run["id"]]
    logs = client.get(f"{runs}/{run['id']}/logs", headers=alice).json()
    assert logs == {
        "text": "",
        "offset": 0,
        "next_offset": 0,
        "finished": True,
        "status": "ENGINE_STOPPED",
    }
    assert client.get(f"{runs}/nope-nope-nope-nope", headers=alice).status_code == 404
    job_now = client.get(f"{base}/{job['id']}", headers=alice).json()
    assert job_now["latest"]["id"] == second["id"]


def test_job_permissions(
    client: TestClient,
    alice: Headers,
    project: str,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    base = f"/api/v2/projects/{project}/jobs"
    job = client.post(base, headers=alice, json={"name": "J", "script": "train.py"}).json()
    viewer = api_headers(make_user("vera"))
    operator = api_headers(make_user("otto"))
    stranger = api_headers(make_user("sam"))
    for name, perm in (("vera", "read"), ("otto", "operator")):
        client.put(
            f"/api/v2/projects/{project}/collaborators/{name}",
            headers=alice,
            json={"permission": perm},
        ).raise_for_status()
    assert client.get(base, headers=viewer).status_code == 200
    assert client.post(f"{base}/{job['id']}/runs", headers=viewer).status_code == 403
    assert (
        client.post(base, headers=operator, json={"name": "N", "script": "train.py"}).status_code
        == 403
    )
    assert client.post(f"{base}/{job['id']}/runs", headers=operator).status_code == 200
    assert client.delete(f"{base}/{job['id']}", headers=operator).status_code == 403
    assert client.get(base, headers=stranger).status_code == 404
    assert client.delete(f"{base}/{job['id']}", headers=alice).status_code == 200
    assert client.get(f"{base}/{job['id']}", headers=alice).status_code == 404

"""The Experiments pages through the app (no browser): lists, create form, compare, access."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.experiments import Metric
from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Platform, Principal


def test_pages_show_runs_and_compare(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("mallory")
    principal = Principal(user=alice, via="cli")
    project = projects.create(platform, principal, name="P", source=projects.parse_source("", ""))
    token = login(client, "alice")
    created = client.post(
        f"/projects/{project.id}/experiments",
        data={"csrf_token": token, "name": "exp-one"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    experiment_id = created.headers["location"].rsplit("/", 1)[1]
    duplicate = client.post(
        f"/projects/{project.id}/experiments", data={"csrf_token": token, "name": "exp-one"}
    )
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    runs = []
    for value in (0.25, 0.75):
        run = experiments.create_run(platform, principal, project.id, experiment_id)
        experiments.log_batch(
            platform,
            principal,
            project.id,
            experiment_id,
            run.id,
            metrics=[Metric("auc", value, int(time.time() * 1000), 0)],
            params={"depth": str(int(value * 4))},
            tags={},
        )
        runs.append(run.id)

    listing = client.get(f"/projects/{project.id}/experiments")
    assert "exp-one" in listing.text and "/mlflow/" in listing.text
    page = client.get(f"/projects/{project.id}/experiments/{experiment_id}")
    assert all(r in page.text for r in runs)
    assert "auc" in page.text and "depth" in page.text and "0.75" in page.text
    compare = client.get(
        f"/projects/{project.id}/experiments/{experiment_id}/compare",
        params=[("run", runs[0]), ("run", runs[1])],
    )
    assert compare.status_code == 200
    assert '"series": [{"name": "auc", "values": [0.25, 0.75]}]' in compare.text
    assert "exp-one" in client.get("/experiments").text
    none = client.get(f"/projects/{project.id}/experiments/{experiment_id}/compare")
    assert none.status_code == 400

    client.post("/logout", data={"csrf_token": token})
    login(client, "mallory")
    assert client.get(f"/projects/{project.id}/experiments").status_code == 404
    assert client.get(f"/projects/{project.id}/experiments/{experiment_id}").status_code == 404
    assert "exp-one" not in client.get("/experiments").text

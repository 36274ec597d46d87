"""Real replicas behind the real gateway: builds, deployments, every bad input of issue 5,
rolling restarts and the reconciler restarting dead replicas."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.services import model_builds, model_deployments, models
from lakeworks.services.platform import Platform, Principal
from lakeworks.serving.gateway import gateway_for


def _build(
    platform: Platform,
    principal: Principal,
    project: Project,
    model_id: str,
    tick_until: Callable[..., Any],
    **fields: Any,
) -> Any:
    build = model_builds.create(
        platform, principal, project.id, model_id, model_builds.BuildFields(**fields)
    )

    def done() -> Any:
        b = model_builds.get(platform, principal, project.id, model_id, build.id)
        return b if b.status.is_final else None

    return tick_until(done, what="the build")


def _deploy(
    platform: Platform,
    principal: Principal,
    project: Project,
    model_id: str,
    build_id: str,
    tick_until: Callable[..., Any],
    **fields: Any,
) -> Any:
    deployment = model_deployments.create(
        platform,
        principal,
        project.id,
        model_id,
        build_id,
        model_deployments.DeploymentFields(**fields),
    )

    def settled() -> Any:
        d = model_deployments.get(platform, principal, project.id, model_id, deployment.id)
        return d if d.status in (DeploymentStatus.DEPLOYED, DeploymentStatus.FAILED) else None

    return tick_until(settled, what="the deployment")


def _ready_replicas(
    platform: Platform, principal: Principal, project: Project, model_id: str, dep_id: str
) -> list[str]:
    views = model_deployments.replicas(platform, principal, project.id, model_id, dep_id)
    return sorted(v.replica.workload_id for v in views if v.state == "ready")


@pytest.fixture
def key_headers(serving_platform: Platform) -> Callable[[User], dict[str, str]]:
    from datetime import timedelta

    from lakeworks.entities.users import ApiKeyKind
    from lakeworks.services import auth

    def headers(user: User) -> dict[str, str]:
        created = auth.create_workload_key(
            serving_platform, user, None, timedelta(hours=1), ApiKeyKind.V2
        )
        return {"Authorization": f"Bearer {created.secret}"}

    return headers


def test_a_deployed_model_serves_and_survives_every_bad_input(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
    key_headers: Callable[[User], dict[str, str]],
) -> None:
    platform, principal, project = serving_platform, modeler_principal, model_project
    model = models.create(platform, principal, project.id, models.ModelFields(name="doubler"))
    key = models.access_key(platform, model)
    assert len(key) == 32 and key.isalnum() and key.islower()
    build = _build(
        platform,
        principal,
        project,
        model.id,
        tick_until,
        file_path="predict.py",
        function_name="predict",
        examples=[{"request": {"x": 2}}],
    )
    assert build.status is BuildStatus.BUILT, model_builds.build_log(
        platform, principal, project.id, model.id, build.id
    )
    log = model_builds.build_log(platform, principal, project.id, model.id, build.id)
    assert "building the model environment" in log
    snapshot = model_builds.snapshot_dir(platform, build.id)
    assert (snapshot / "predict.py").is_file()
    assert not (snapshot / "data").exists() and not (snapshot / "weights.bin").exists()

    deployment = _deploy(
        platform,
        principal,
        project,
        model.id,
        build.id,
        tick_until,
        replicas=2,
        cpu=0.5,
        memory_mb=1024,
        environment={"MY_DEPLOY_VAR": "from-deployment"},
        timeout_seconds=3,
    )
    assert deployment.status is DeploymentStatus.DEPLOYED
    first_replicas = _ready_replicas(platform, principal, project, model.id, deployment.id)
    assert len(first_replicas) == 2

    owner = key_headers(modeler)
    call = serving_client.post
    ok = call("/model", json={"accessKey": key, "request": {"x": 21}}, headers=owner)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["success"] is True
    assert body["response"]["doubled"] == 42
    assert body["response"]["var"] == "from-deployment"
    assert ok.headers["access-control-allow-origin"]

    # Both replicas serve (least outstanding spreads sequential calls over them).
    served_by = {
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=owner).json()[
            "response"
        ]["replica"]
        for _ in range(8)
    }
    assert served_by <= set(first_replicas) and served_by
    # Over each replica's Unix socket (no TCP, no pasta), kept alive between calls.
    pool = gateway_for(platform)._pool  # the pool of the event loop the calls ran on
    assert pool is not None
    kept = [c for connections in pool._idle.values() for c in connections]
    assert kept and {c.writer.get_extra_info("socket").family for c in kept} == {socket.AF_UNIX}

    # The query key wins; the same route answers on modelservice.<domain>.
    q = call(
        f"/model?accessKey={key}",
        json={"accessKey": "wrong", "request": {"x": 1}},
        headers=owner | {"Host": "modelservice." + platform.settings.domain},
    )
    assert q.status_code == 200, q.text

    # Bad input, each with its status and JSON error.
    def error(response: Any, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["success"] is False
        assert response.json()["errors"]["code"] == code

    error(
        call("/model", json={"accessKey": "x" * 32, "request": {}}, headers=owner),
        404,
        "model.not_found",
    )
    error(call("/model", json={"request": {}}, headers=owner), 400, "request.invalid")
    error(call("/model", json={"accessKey": key}, headers=owner), 400, "request.invalid")
    error(
        call("/model", content=b"{not json", headers=owner | {"Content-Type": "application/json"}),
        400,
        "request.invalid",
    )
    big = {"accessKey": key, "request": {"blob": "x" * (6 * 1024 * 1024)}}
    error(call("/model", json=big, headers=owner), 413, "request.too_large")
    error(call("/model", json={"accessKey": key, "request": {"x": 1}}), 401, "auth.failed")
    outsider = serving_platform  # a user who cannot read the project
    from lakeworks.services import users

    stranger = users.create_user(
        outsider, None, username="stranger", password="correct horse battery", email="s@e.org"
    )
    error(
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=key_headers(stranger)),
        403,
        "auth.failed",
    )
    # A key revoked through the server is refused by the very next call (not once the
    # gateway's cache expires).
    from lakeworks.services import auth

    personal = auth.create_api_key(platform, principal, modeler.username)
    bearer = {"Authorization": f"Bearer {personal.secret}"}
    assert call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=bearer).is_success
    auth.revoke_api_key(platform, principal, modeler.username, personal.key.id)
    error(
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=bearer),
        403,
        "auth.failed",
    )
    raised = call("/model", json={"accessKey": key, "request": {"boom": "bad"}}, headers=owner)
    error(raised, 500, "model.error")
    assert "boom: bad" in raised.json()["errors"]["message"]
    assert (
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=owner).status_code
        == 200
    )

    # All replicas busy: slow calls fill both replicas, each running one and holding one sent
    # ahead (LAKEWORKS_MODEL_REPLICA_QUEUE, default 1); one more waits, then gets 429. The
    # calls sent ahead waited in their replica and succeed.
    settings = platform.settings
    slots = 2 * (settings.model_replica_concurrency + settings.model_replica_queue)
    assert slots == 4
    slow: list[int] = []

    def slow_call() -> None:
        r = call(
            "/model", json={"accessKey": key, "request": {"sleep": 2.0, "x": 1}}, headers=owner
        )
        slow.append(r.status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(slots)]
    for t in threads:
        t.start()
    import time

    time.sleep(0.5)
    error(
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=owner),
        429,
        "model.busy",
    )
    for t in threads:
        t.join()
    assert slow == [200] * slots

    def replaced(before: set[str]) -> Callable[[], bool]:
        def check() -> bool:
            ready = set(_ready_replicas(platform, principal, project, model.id, deployment.id))
            return len(ready) == 2 and ready != before

        return check

    # A call that hangs past the deployment's timeout: 504, and that replica is replaced.
    before = set(_ready_replicas(platform, principal, project, model.id, deployment.id))
    error(
        call("/model", json={"accessKey": key, "request": {"sleep": 30, "x": 1}}, headers=owner),
        504,
        "model.timeout",
    )
    tick_until(replaced(before), what="the replica replaced after the timeout")
    # A call that kills its replica: a JSON error, and the replica is replaced.
    before = set(_ready_replicas(platform, principal, project, model.id, deployment.id))
    crashed = call("/model", json={"accessKey": key, "request": {"crash": True}}, headers=owner)
    error(crashed, 502, "model.crashed")
    tick_until(replaced(before), what="the replica replaced after the crash")
    for _ in range(4):
        again = call("/model", json={"accessKey": key, "request": {"x": 5}}, headers=owner)
        assert again.json()["response"]["doubled"] == 10

    # Regenerated key: the old one is refused at once, the new one works.
    model = models.regenerate_key(platform, principal, project.id, model.id)
    new_key = models.access_key(platform, model)
    error(
        call("/model", json={"accessKey": key, "request": {"x": 1}}, headers=owner),
        404,
        "model.not_found",
    )
    assert (
        call("/model", json={"accessKey": new_key, "request": {"x": 1}}, headers=owner).status_code
        == 200
    )

    # Authentication off: no credential needed.
    models.update(platform, principal, project.id, model.id, {"auth_enabled": False})
    assert call("/model", json={"accessKey": new_key, "request": {"x": 1}}).status_code == 200

    # A rolling restart drops no request.
    before = set(_ready_replicas(platform, principal, project, model.id, deployment.id))
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            r = call("/model", json={"accessKey": new_key, "request": {"x": 1}})
            statuses.append(r.status_code)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        model_deployments.restart(platform, principal, project.id, model.id, deployment.id)

        def rolled() -> bool:
            now = set(_ready_replicas(platform, principal, project, model.id, deployment.id))
            return len(now) == 2 and not now & before

        tick_until(rolled, what="the rolling restart")
    finally:
        stop.set()
        loader.join()
    assert statuses and set(statuses) == {200}, statuses

    # Stop: the model answers 503 and the replicas end.
    model_deployments.stop(platform, principal, project.id, model.id, deployment.id)
    tick_until(
        lambda: model_deployments.get(
            platform, principal, project.id, model.id, deployment.id
        ).status
        is DeploymentStatus.STOPPED,
        what="the stop",
    )
    error(
        call("/model", json={"accessKey": new_key, "request": {"x": 1}}), 503, "model.unavailable"
    )

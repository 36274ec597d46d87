"""Models, builds and deployments (services/models.py, model_builds.py, model_deployments.py)
called directly, without building or serving anything: fields and bounds, access keys, the
snapshot a build queues, deployments of builds in each state, stop and restart, roles and
audit rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.services.conftest import Members

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.models import BuildStatus, DeploymentStatus, Model, ModelBuild
from lakeworks.errors import Conflict, InvalidInput, InvalidState, NotFound, PermissionDenied
from lakeworks.services import model_builds, model_deployments, models
from lakeworks.services.model_builds import BuildFields
from lakeworks.services.model_deployments import DeploymentFields
from lakeworks.services.models import ModelFields
from lakeworks.services.platform import Platform

Audit = Callable[[Platform, str], list[AuditEvent]]
PREDICT = "def predict(args):\n    return {'echo': args}\n"


@pytest.fixture
def project_id(fake_platform: Platform, members: Members) -> str:
    root = fake_platform.settings.projects_dir / members.project_id
    (root / "predict.py").write_text(PREDICT)
    (root / "notes.txt").write_text("not python\n")
    return members.project_id


@pytest.fixture
def model(fake_platform: Platform, members: Members, project_id: str) -> Model:
    return models.create(fake_platform, members["contributor"], project_id, ModelFields("Echo"))


@pytest.fixture
def build(fake_platform: Platform, members: Members, project_id: str, model: Model) -> ModelBuild:
    return model_builds.create(
        fake_platform,
        members["owner"],
        project_id,
        model.id,
        BuildFields(file_path="predict.py", function_name="predict", comment="first"),
    )


def set_build_status(platform: Platform, build_id: str, status: BuildStatus) -> None:
    with platform.store.transaction() as uow:
        uow.models.set_build(build_id, status=status.value)


# Models ----------------------------------------------------------------------------------


def test_a_model_gets_an_access_key_only_its_hash_is_stored(
    fake_platform: Platform, members: Members, project_id: str, model: Model, audit_rows: Audit
) -> None:
    key = models.access_key(fake_platform, model)
    assert len(key) >= 20 and model.access_key_hash == models.hash_access_key(key)
    assert key not in model.access_key_sealed
    assert model.name == "Echo" and model.auth_enabled and model.default_replicas == 1
    (event,) = audit_rows(fake_platform, "model.create")
    assert event.target == model.id and event.detail == {"name": "Echo", "auth_enabled": True}
    assert models.list_models(fake_platform, members["viewer"], project_id) == [model]
    assert models.list_statuses(fake_platform, [model]) == {model.id: "no build"}


def test_a_new_key_replaces_the_old_one(
    fake_platform: Platform, members: Members, project_id: str, model: Model, audit_rows: Audit
) -> None:
    old = models.access_key(fake_platform, model)
    renewed = models.regenerate_key(fake_platform, members["owner"], project_id, model.id)
    new = models.access_key(fake_platform, renewed)
    assert new and new != old and renewed.access_key_hash == models.hash_access_key(new)
    assert renewed.access_key_hash != models.hash_access_key(old)
    (event,) = audit_rows(fake_platform, "model.regenerate_key")
    assert event.outcome is Outcome.SUCCESS and new not in str(event.detail)


def test_a_key_sealed_under_another_secret_reads_as_empty(
    fake_platform: Platform, model: Model
) -> None:
    fake_platform.settings = fake_platform.settings.model_copy(
        update={"secret_key": "a-different-secret-key-of-enough-length-0123456789"}
    )
    assert models.access_key(fake_platform, model) == ""


BAD_MODELS: list[tuple[dict[str, Any], str]] = [
    ({"name": "  "}, "A model needs a name."),
    ({"name": "m" * 201}, "A model name has at most 200 characters."),
    ({"description": "d" * (64 * 1024 + 1)}, "description is at most"),
    ({"default_cpu": 0}, "cpu (vCPU)"),
    ({"default_memory_mb": -5}, "memory (MiB)"),
    ({"default_replicas": 0}, "replicas"),
    ({"default_replicas": 33}, "replicas"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_MODELS)
def test_bad_models_are_refused(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    fields.setdefault("name", "Echo")
    with pytest.raises(InvalidInput) as caught:
        models.create(fake_platform, members["owner"], project_id, ModelFields(**fields))
    assert message in caught.value.message
    assert models.list_models(fake_platform, members["owner"], project_id) == []


def test_model_names_are_unique_in_a_project(
    fake_platform: Platform, members: Members, project_id: str, model: Model
) -> None:
    owner = members["owner"]
    with pytest.raises(Conflict, match="The project already has a model named 'Echo'."):
        models.create(fake_platform, owner, project_id, ModelFields(" Echo "))
    other = models.create(fake_platform, owner, project_id, ModelFields("Other"))
    with pytest.raises(Conflict, match="already has a model named 'Echo'"):
        models.update(fake_platform, owner, project_id, other.id, {"name": "Echo"})
    same = models.update(fake_platform, owner, project_id, model.id, {"name": "Echo"})
    assert same.name == "Echo"


def test_an_update_changes_the_named_fields_and_ignores_others(
    fake_platform: Platform, members: Members, project_id: str, model: Model, audit_rows: Audit
) -> None:
    updated = models.update(
        fake_platform,
        members["owner"],
        project_id,
        model.id,
        {"description": "echoes", "auth_enabled": False, "default_cpu": 64, "name": None},
    )
    assert (updated.name, updated.description, updated.auth_enabled) == ("Echo", "echoes", False)
    assert updated.default_cpu == model.default_cpu
    (event,) = audit_rows(fake_platform, "model.update")
    assert event.detail == {"description": "echoes", "auth_enabled": "False"}


def test_list_all_shows_models_of_readable_projects(
    fake_platform: Platform, members: Members, project_id: str, model: Model
) -> None:
    assert [m.id for m in models.list_all(fake_platform, members["viewer"])] == [model.id]
    assert models.list_all(fake_platform, members["outsider"]) == []


def test_a_model_of_another_project_is_not_found(
    fake_platform: Platform, members: Members, project_id: str, model: Model
) -> None:
    from lakeworks.services import projects

    other = projects.create(
        fake_platform, members["owner"], name="Other", source=projects.parse_source("", "")
    )
    with pytest.raises(NotFound, match=f"Model '{model.id}' not found."):
        models.get(fake_platform, members["owner"], other.id, model.id)
    with pytest.raises(NotFound):
        models.delete(fake_platform, members["owner"], other.id, model.id)
    assert models.get(fake_platform, members["owner"], project_id, model.id) == model


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", None),
        ("admin", None),
        ("contributor", None),
        ("operator", PermissionDenied),
        ("viewer", PermissionDenied),
        ("outsider", NotFound),
    ],
)
def test_contributors_and_above_manage_models(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    audit_rows: Audit,
    role: str,
    expected: type[Exception] | None,
) -> None:
    principal = members[role]
    actions = {
        "model.create": lambda: models.create(
            fake_platform, principal, project_id, ModelFields("New")
        ),
        "model.update": lambda: models.update(
            fake_platform, principal, project_id, model.id, {"description": "x"}
        ),
        "model.regenerate_key": lambda: models.regenerate_key(
            fake_platform, principal, project_id, model.id
        ),
        "model.delete": lambda: models.delete(fake_platform, principal, project_id, model.id),
    }
    if expected is None:
        for act in actions.values():
            act()
        names = [m.name for m in models.list_models(fake_platform, members["owner"], project_id)]
        assert names == ["New"]
        for action in actions:
            event = audit_rows(fake_platform, action)[-1]
            assert event.actor == role and event.outcome is Outcome.SUCCESS
        return
    for act in actions.values():
        with pytest.raises(expected):
            act()
    assert models.list_models(fake_platform, members["owner"], project_id) == [model]
    outcome = Outcome.DENIED if expected is PermissionDenied else Outcome.FAILED
    for action in actions:
        refused = [e for e in audit_rows(fake_platform, action) if e.actor == role]
        assert [e.outcome for e in refused] == [outcome]


# Builds ------------------------------------------------------------------------------------


def test_a_build_snapshots_the_project_and_waits_pending(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    audit_rows: Audit,
) -> None:
    assert build.status is BuildStatus.PENDING and build.model_id == model.id
    assert (build.file_path, build.function_name, build.comment) == (
        "predict.py",
        "predict",
        "first",
    )
    # Nothing to install (no build script, no requirements): no environment to cache.
    assert build.build_script_path == "cdsw-build.sh" and build.env_hash == ""
    snapshot = model_builds.snapshot_dir(fake_platform, build.id)
    assert (snapshot / "predict.py").read_text() == PREDICT
    # A later change to the project does not reach the queued build.
    (fake_platform.settings.projects_dir / project_id / "predict.py").write_text("changed\n")
    assert (snapshot / "predict.py").read_text() == PREDICT
    (event,) = audit_rows(fake_platform, "model.build")
    assert event.target == build.id and event.detail["function_name"] == "predict"
    listed = model_builds.list_builds(fake_platform, members["viewer"], project_id, model.id)
    assert [b.id for b in listed] == [build.id]
    got = model_builds.get(fake_platform, members["viewer"], project_id, model.id, build.id)
    assert got.id == build.id
    assert models.list_statuses(fake_platform, [model]) == {model.id: "pending"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"file_path": ""}, "The model file must be a path inside the project."),
        ({"file_path": "../predict.py"}, "The model file must be a path inside the project."),
        ({"function_name": "not valid"}, "The function name must be a Python identifier"),
        ({"function_name": ""}, "The function name must be a Python identifier"),
        ({"file_path": "missing.py"}, "The model file 'missing.py' does not exist"),
        ({"file_path": "notes.txt"}, "The model file must be a Python file (.py)."),
        ({"build_script_path": "../b.sh"}, "The build script must be a path inside the project."),
    ],
)
def test_bad_builds_are_refused_and_leave_no_snapshot(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    fields: dict[str, Any],
    message: str,
) -> None:
    given: dict[str, Any] = {"file_path": "predict.py", "function_name": "predict"}
    given.update(fields)
    with pytest.raises(InvalidInput) as caught:
        model_builds.create(
            fake_platform, members["owner"], project_id, model.id, BuildFields(**given)
        )
    assert message in caught.value.message
    assert model_builds.list_builds(fake_platform, members["owner"], project_id, model.id) == []
    root = model_builds.builds_root(fake_platform)
    assert not root.exists() or list(root.iterdir()) == []


def test_a_build_with_requirements_gets_an_environment_key(
    fake_platform: Platform, members: Members, project_id: str, model: Model
) -> None:
    root = fake_platform.settings.projects_dir / project_id
    (root / "requirements.txt").write_text("numpy\n")

    def key() -> str:
        return model_builds.create(
            fake_platform,
            members["owner"],
            project_id,
            model.id,
            BuildFields(file_path="predict.py", function_name="predict"),
        ).env_hash

    first = key()
    assert len(first) == 64 and key() == first  # same inputs, same cached environment
    (root / "requirements.txt").write_text("numpy\npandas\n")
    assert key() != first


def test_a_build_path_copied_from_a_workload_is_the_projects(
    fake_platform: Platform, members: Members, project_id: str, model: Model
) -> None:
    made = model_builds.create(
        fake_platform,
        members["owner"],
        project_id,
        model.id,
        BuildFields(file_path="/home/cdsw/predict.py", function_name="predict"),
    )
    assert made.file_path == "predict.py"


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_building_needs_contributor(
    fake_platform: Platform, members: Members, project_id: str, model: Model, role: str
) -> None:
    with pytest.raises(PermissionDenied, match=f"is {role}; you need contributor"):
        model_builds.create(
            fake_platform,
            members[role],
            project_id,
            model.id,
            BuildFields(file_path="predict.py", function_name="predict"),
        )
    assert model_builds.list_builds(fake_platform, members["owner"], project_id, model.id) == []


def test_a_build_of_another_model_is_not_found(
    fake_platform: Platform, members: Members, project_id: str, model: Model, build: ModelBuild
) -> None:
    other = models.create(fake_platform, members["owner"], project_id, ModelFields("Other"))
    with pytest.raises(NotFound, match=f"Build '{build.id}' not found."):
        model_builds.get(fake_platform, members["owner"], project_id, other.id, build.id)
    with pytest.raises(NotFound, match=f"Build '{build.id}' not found."):
        model_deployments.create(
            fake_platform, members["owner"], project_id, other.id, build.id, DeploymentFields()
        )


# Deployments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpu": 0}, "cpu (vCPU)"),
        ({"memory_mb": 32}, "memory must be at least 64 MiB."),
        ({"replicas": 0}, "replicas"),
        ({"replicas": 33}, "replicas"),
        ({"timeout_seconds": -1}, "timeout (seconds)"),
        ({"timeout_seconds": 3601}, "timeout (seconds)"),
    ],
)
def test_deployments_no_replica_could_be_given_are_refused(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    fields: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        model_deployments.create(
            fake_platform,
            members["owner"],
            project_id,
            model.id,
            build.id,
            DeploymentFields(**fields),
        )
    assert message in caught.value.message
    assert (
        model_deployments.list_deployments(fake_platform, members["owner"], project_id, model.id)
        == []
    )


def test_a_deployment_of_a_pending_build_waits_pending(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    audit_rows: Audit,
) -> None:
    deployment = model_deployments.create(
        fake_platform,
        members["owner"],
        project_id,
        model.id,
        build.id,
        DeploymentFields(cpu=0.5, memory_mb=256, replicas=2, environment={"MODE": 1}),  # type: ignore[dict-item]
    )
    assert deployment.status is DeploymentStatus.PENDING
    assert (deployment.cpu, deployment.memory_mb, deployment.replicas) == (0.5, 256, 2)
    assert deployment.environment == {"MODE": "1"}
    (event,) = audit_rows(fake_platform, "model.deploy")
    assert event.target == deployment.id
    assert event.detail == {"model_id": model.id, "build_id": build.id, "replicas": 2}
    assert models.list_statuses(fake_platform, [model]) == {model.id: "pending"}


@pytest.mark.parametrize("status", [BuildStatus.FAILED, BuildStatus.STOPPED])
def test_a_failed_or_stopped_build_cannot_be_deployed(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    status: BuildStatus,
) -> None:
    set_build_status(fake_platform, build.id, status)
    with pytest.raises(InvalidState) as caught:
        model_deployments.create(
            fake_platform, members["owner"], project_id, model.id, build.id, DeploymentFields()
        )
    assert caught.value.message == (
        f"Build {build.id} is {status.value!r}; deploy a build that built or is still building."
    )


def test_stop_and_restart_of_a_deployment(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    audit_rows: Audit,
) -> None:
    operator = members["operator"]
    deployment = model_deployments.create(
        fake_platform, members["owner"], project_id, model.id, build.id, DeploymentFields()
    )
    stopping = model_deployments.stop(fake_platform, operator, project_id, model.id, deployment.id)
    assert stopping.status is DeploymentStatus.STOPPING
    with pytest.raises(InvalidState, match="The deployment is stopping; restart it once"):
        model_deployments.restart(fake_platform, operator, project_id, model.id, deployment.id)
    # With no replica left, the reconciler settles it as stopped.
    model_deployments.reconcile(fake_platform)
    stopped = model_deployments.get(fake_platform, operator, project_id, model.id, deployment.id)
    assert stopped.status is DeploymentStatus.STOPPED
    again = model_deployments.restart(fake_platform, operator, project_id, model.id, deployment.id)
    assert again.status is DeploymentStatus.PENDING and again.generation == 1
    assert [e.actor for e in audit_rows(fake_platform, "model.deployment.stop")] == ["operator"]
    restarts = audit_rows(fake_platform, "model.deployment.restart")
    assert [e.outcome for e in restarts] == [Outcome.FAILED, Outcome.SUCCESS]


def test_an_older_deployment_cannot_come_back_over_a_newer_active_one(
    fake_platform: Platform, members: Members, project_id: str, model: Model, build: ModelBuild
) -> None:
    owner = members["owner"]
    first = model_deployments.create(
        fake_platform, owner, project_id, model.id, build.id, DeploymentFields()
    )
    model_deployments.stop(fake_platform, owner, project_id, model.id, first.id)
    model_deployments.reconcile(fake_platform)
    model_deployments.create(
        fake_platform, owner, project_id, model.id, build.id, DeploymentFields()
    )
    with pytest.raises(InvalidState, match="A newer deployment of this model is active"):
        model_deployments.restart(fake_platform, owner, project_id, model.id, first.id)


@pytest.mark.parametrize(
    ("role", "expected"), [("viewer", PermissionDenied), ("outsider", NotFound)]
)
def test_stopping_a_deployment_needs_operator(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    role: str,
    expected: type[Exception],
) -> None:
    deployment = model_deployments.create(
        fake_platform, members["owner"], project_id, model.id, build.id, DeploymentFields()
    )
    for act in (model_deployments.stop, model_deployments.restart):
        with pytest.raises(expected):
            act(fake_platform, members[role], project_id, model.id, deployment.id)
    kept = model_deployments.get(
        fake_platform, members["owner"], project_id, model.id, deployment.id
    )
    assert kept.status is DeploymentStatus.PENDING and kept.generation == 0


def test_deleting_a_model_removes_its_builds_and_deployments(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    model: Model,
    build: ModelBuild,
    audit_rows: Audit,
) -> None:
    owner = members["owner"]
    deployment = model_deployments.create(
        fake_platform, owner, project_id, model.id, build.id, DeploymentFields()
    )
    models.delete(fake_platform, owner, project_id, model.id)
    with pytest.raises(NotFound):
        models.get(fake_platform, owner, project_id, model.id)
    with fake_platform.read() as uow:
        assert uow.models.get_build(build.id) is None
        assert uow.models.deployments_of(model.id) == []
    assert deployment.id
    (event,) = audit_rows(fake_platform, "model.delete")
    assert event.detail == {"name": "Echo"}

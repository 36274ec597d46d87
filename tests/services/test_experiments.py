"""Experiments, their runs and the model registry (services/experiments.py) called directly on
the embedded MLflow: names and conflicts, the project boundary, run updates and batches, the
registry's versions, the permission rule of experiment_access.py and the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.services.conftest import Members, account
from tests.tracking.fixtures import drop_pg_schemas, tracking_settings

from lakeworks.config import Settings
from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.experiments import Experiment, ExperimentRun, Metric
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakeworks.services import experiment_access, experiments, projects
from lakeworks.services.access_cache import AccessCache
from lakeworks.services.platform import Platform, Principal
from lakeworks.tracking.paths import server_path

Audit = Callable[[Platform, str], list[AuditEvent]]
ROLES = ["owner", "admin", "contributor", "operator", "viewer", "outsider"]
WRITERS = {"owner", "admin", "contributor"}


@pytest.fixture(scope="module", autouse=True)
def _drop_mlflow_schemas() -> Iterator[None]:
    yield
    drop_pg_schemas()


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A migrated experiments (MLflow) database beside the test's own."""
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def experiment(fake_platform: Platform, members: Members) -> Experiment:
    return experiments.create_experiment(
        fake_platform, members["owner"], members.project_id, "Churn"
    )


@pytest.fixture
def run(fake_platform: Platform, members: Members, experiment: Experiment) -> ExperimentRun:
    return experiments.create_run(
        fake_platform, members["owner"], members.project_id, experiment.id, name="baseline"
    )


def other_project(platform: Platform, members: Members) -> str:
    return projects.create(
        platform, members["owner"], name="Elsewhere", source=projects.parse_source("", "")
    ).id


# Experiments ------------------------------------------------------------------------------


def test_an_experiment_belongs_to_its_project_and_is_audited(
    fake_platform: Platform, members: Members, experiment: Experiment, audit_rows: Audit
) -> None:
    assert experiment.name == "Churn" and experiment.project_id == members.project_id
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location.startswith("/home/cdsw/")
    listed = experiments.list_experiments(fake_platform, members["viewer"], members.project_id)
    assert [e.id for e in listed] == [experiment.id]
    got = experiments.get_experiment(
        fake_platform, members["viewer"], members.project_id, experiment.id
    )
    assert got.name == "Churn"
    (event,) = audit_rows(fake_platform, "experiment.create")
    assert event.outcome is Outcome.SUCCESS and event.target == "Churn"
    assert event.detail == {"experiment_id": experiment.id}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "An experiment needs a name."),
        ("   ", "An experiment needs a name."),
        ("x" * 501, "An experiment names are at most 500 characters."),
    ],
)
def test_bad_experiment_names_are_refused(
    fake_platform: Platform, members: Members, name: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        experiments.create_experiment(fake_platform, members["owner"], members.project_id, name)
    assert caught.value.message == message
    assert experiments.list_experiments(fake_platform, members["owner"], members.project_id) == []


def test_experiment_names_are_unique_across_projects(
    fake_platform: Platform, members: Members, experiment: Experiment, audit_rows: Audit
) -> None:
    elsewhere = other_project(fake_platform, members)
    with pytest.raises(Conflict) as caught:
        experiments.create_experiment(fake_platform, members["owner"], elsewhere, "Churn")
    assert caught.value.message == (
        "An experiment named 'Churn' already exists (names are unique across Lakeworks)."
    )
    failed = audit_rows(fake_platform, "experiment.create")[-1]
    assert failed.outcome is Outcome.FAILED and failed.project_id == elsewhere


def test_renaming_an_experiment_and_the_name_conflict(
    fake_platform: Platform, members: Members, experiment: Experiment, audit_rows: Audit
) -> None:
    owner, project_id = members["owner"], members.project_id
    experiments.create_experiment(fake_platform, owner, project_id, "Taken")
    renamed = experiments.rename_experiment(
        fake_platform, owner, project_id, experiment.id, " Retention "
    )
    assert renamed.name == "Retention" and renamed.id == experiment.id
    with pytest.raises(Conflict, match="An experiment named 'Taken' already exists"):
        experiments.rename_experiment(fake_platform, owner, project_id, experiment.id, "Taken")
    events = audit_rows(fake_platform, "experiment.update")
    assert [(e.outcome, e.detail.get("name")) for e in events] == [
        (Outcome.SUCCESS, "Retention"),
        (Outcome.FAILED, None),
    ]


def test_a_deleted_experiment_leaves_the_list(
    fake_platform: Platform, members: Members, experiment: Experiment, audit_rows: Audit
) -> None:
    experiments.delete_experiment(
        fake_platform, members["contributor"], members.project_id, experiment.id
    )
    assert experiments.list_experiments(fake_platform, members["owner"], members.project_id) == []
    assert [e.id for e in experiments.list_all_experiments(fake_platform, members["owner"])] == []
    (event,) = audit_rows(fake_platform, "experiment.delete")
    assert event.actor == "contributor" and event.target == experiment.id


def test_an_experiment_of_another_project_is_not_found_through_this_one(
    fake_platform: Platform, members: Members, experiment: Experiment
) -> None:
    elsewhere = other_project(fake_platform, members)
    with pytest.raises(NotFound) as caught:
        experiments.get_experiment(fake_platform, members["owner"], elsewhere, experiment.id)
    assert caught.value.message == f"Experiment {experiment.id!r} not found in this project."
    with pytest.raises(NotFound):
        experiments.delete_experiment(fake_platform, members["owner"], elsewhere, experiment.id)
    assert experiments.list_experiments(fake_platform, members["owner"], members.project_id)


def test_list_all_shows_only_readable_projects(
    fake_platform: Platform, members: Members, experiment: Experiment
) -> None:
    elsewhere = other_project(fake_platform, members)
    hidden = experiments.create_experiment(fake_platform, members["owner"], elsewhere, "Hidden")
    mine = experiments.list_all_experiments(fake_platform, members["owner"])
    assert [e.id for e in mine] == [experiment.id, hidden.id]
    viewer = experiments.list_all_experiments(fake_platform, members["viewer"])
    assert [e.id for e in viewer] == [experiment.id]
    assert experiments.list_all_experiments(fake_platform, members["outsider"]) == []


# Roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_creating_experiments_needs_contributor(
    fake_platform: Platform, members: Members, audit_rows: Audit, role: str
) -> None:
    principal = members[role]
    if role in WRITERS:
        created = experiments.create_experiment(
            fake_platform, principal, members.project_id, f"By {role}"
        )
        assert created.project_id == members.project_id
        (event,) = audit_rows(fake_platform, "experiment.create")
        assert event.actor == role and event.outcome is Outcome.SUCCESS
        return
    expected = NotFound if role == "outsider" else PermissionDenied
    with pytest.raises(expected) as caught:
        experiments.create_experiment(fake_platform, principal, members.project_id, "Nope")
    if expected is PermissionDenied:
        assert f"is {role}; you need contributor or above" in caught.value.message
    else:
        assert caught.value.message == f"Project {members.project_id!r} not found."
    (event,) = audit_rows(fake_platform, "experiment.create")
    assert event.outcome is (Outcome.DENIED if expected is PermissionDenied else Outcome.FAILED)
    assert experiments.list_experiments(fake_platform, members["owner"], members.project_id) == []


@pytest.mark.parametrize("role", ROLES)
def test_run_writes_need_contributor_and_reads_need_viewer(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    role: str,
) -> None:
    principal, project_id = members[role], members.project_id
    if role == "outsider":
        with pytest.raises(NotFound, match=f"Experiment '{experiment.id}' not found."):
            experiments.list_runs(fake_platform, principal, project_id, experiment.id)
    else:
        listed = experiments.list_runs(fake_platform, principal, project_id, experiment.id)
        assert [r.id for r in listed] == [run.id]
        got = experiments.get_run(fake_platform, principal, project_id, experiment.id, run.id)
        assert got.name == "baseline"

    def write() -> ExperimentRun:
        return experiments.log_batch(
            fake_platform,
            principal,
            project_id,
            experiment.id,
            run.id,
            metrics=[Metric("auc", 0.9, 1000, 0)],
            params={},
            tags={},
        )

    if role in WRITERS:
        assert [m.key for m in write().metrics] == ["auc"]
        return
    with pytest.raises(NotFound if role == "outsider" else PermissionDenied):
        write()
    stored = experiments.get_run(fake_platform, members["owner"], project_id, experiment.id, run.id)
    assert stored.metrics == []


# Runs --------------------------------------------------------------------------------------


def test_a_run_records_its_creator_tags_and_audit(
    fake_platform: Platform, members: Members, experiment: Experiment, audit_rows: Audit
) -> None:
    created = experiments.create_run(
        fake_platform,
        members["contributor"],
        members.project_id,
        experiment.id,
        name="tuned",
        tags={"team": "risk"},
    )
    assert created.name == "tuned" and created.user == "contributor"
    assert created.experiment_id == experiment.id and created.status == "RUNNING"
    assert created.tags["team"] == "risk"
    (event,) = audit_rows(fake_platform, "experiment_run.create")
    assert event.detail == {"run_id": created.id} and event.target == experiment.id


def test_reserved_tags_are_refused_on_create_and_log(
    fake_platform: Platform, members: Members, experiment: Experiment, run: ExperimentRun
) -> None:
    owner, project_id = members["owner"], members.project_id
    with pytest.raises(PermissionDenied, match=r"Tags named lakeworks\.\* are set by Lakeworks"):
        experiments.create_run(
            fake_platform, owner, project_id, experiment.id, tags={"lakeworks.project": "x"}
        )
    with pytest.raises(PermissionDenied):
        experiments.log_batch(
            fake_platform,
            owner,
            project_id,
            experiment.id,
            run.id,
            metrics=[],
            params={},
            tags={"lakeworks.model_id": "forged"},
        )
    assert len(experiments.list_runs(fake_platform, owner, project_id, experiment.id)) == 1


def test_log_batch_records_metrics_params_and_history(
    fake_platform: Platform, members: Members, experiment: Experiment, run: ExperimentRun
) -> None:
    owner, project_id = members["owner"], members.project_id
    logged = experiments.log_batch(
        fake_platform,
        owner,
        project_id,
        experiment.id,
        run.id,
        metrics=[Metric("loss", 0.9, 1000, 0), Metric("loss", 0.5, 2000, 1)],
        params={"lr": "0.1"},
        tags={"stage": "dev"},
    )
    assert logged.params == {"lr": "0.1"} and logged.tags["stage"] == "dev"
    assert [(m.key, m.value, m.step) for m in logged.metrics] == [("loss", 0.5, 1)]
    history = experiments.metric_history(
        fake_platform, members["viewer"], project_id, experiment.id, run.id, "loss"
    )
    assert [(m.value, m.step, m.timestamp) for m in history] == [(0.9, 0, 1000), (0.5, 1, 2000)]


def test_a_param_cannot_change_its_value(
    fake_platform: Platform, members: Members, experiment: Experiment, run: ExperimentRun
) -> None:
    owner, project_id = members["owner"], members.project_id

    def log(value: str) -> ExperimentRun:
        return experiments.log_batch(
            fake_platform,
            owner,
            project_id,
            experiment.id,
            run.id,
            metrics=[],
            params={"lr": value},
            tags={},
        )

    log("0.1")
    with pytest.raises(InvalidInput, match="lr"):
        log("0.2")
    got = experiments.get_run(fake_platform, owner, project_id, experiment.id, run.id)
    assert got.params == {"lr": "0.1"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "DONE"}, "Unknown run status 'DONE'; use one of"),
        ({"end_time": -1}, "end_time is milliseconds since the epoch, not negative."),
        ({"name": "  "}, "A run needs a name."),
    ],
)
def test_bad_run_updates_are_refused(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        experiments.update_run(
            fake_platform,
            members["owner"],
            members.project_id,
            experiment.id,
            run.id,
            **changes,  # type: ignore[arg-type]
        )
    assert message in caught.value.message
    got = experiments.get_run(
        fake_platform, members["owner"], members.project_id, experiment.id, run.id
    )
    assert (got.name, got.status, got.end_time) == ("baseline", "RUNNING", None)


def test_a_run_update_sets_status_end_and_name(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    audit_rows: Audit,
) -> None:
    updated = experiments.update_run(
        fake_platform,
        members["owner"],
        members.project_id,
        experiment.id,
        run.id,
        name="final",
        status="finished",
        end_time=1_700_000_000_000,
    )
    assert (updated.name, updated.status, updated.end_time) == (
        "final",
        "FINISHED",
        1_700_000_000_000,
    )
    kept = experiments.update_run(
        fake_platform, members["owner"], members.project_id, experiment.id, run.id
    )
    assert (kept.name, kept.status, kept.end_time) == ("final", "FINISHED", 1_700_000_000_000)
    events = audit_rows(fake_platform, "experiment_run.update")
    assert [e.detail for e in events] == [{"name": "final", "status": "finished"}, {}]


def test_a_run_of_another_experiment_is_not_found(
    fake_platform: Platform, members: Members, experiment: Experiment, run: ExperimentRun
) -> None:
    owner, project_id = members["owner"], members.project_id
    second = experiments.create_experiment(fake_platform, owner, project_id, "Second")
    with pytest.raises(NotFound) as caught:
        experiments.get_run(fake_platform, owner, project_id, second.id, run.id)
    assert caught.value.message == f"Run {run.id!r} not found in experiment {second.id!r}."
    with pytest.raises(NotFound):
        experiments.delete_run(fake_platform, owner, project_id, second.id, run.id)
    assert experiments.get_run(fake_platform, owner, project_id, experiment.id, run.id)


def test_delete_runs_is_all_or_nothing(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    audit_rows: Audit,
) -> None:
    owner, project_id = members["owner"], members.project_id
    other = experiments.create_run(fake_platform, owner, project_id, experiment.id, name="b")
    with pytest.raises(NotFound):
        experiments.delete_runs(
            fake_platform, owner, project_id, experiment.id, [run.id, "missing-run"]
        )
    assert len(experiments.list_runs(fake_platform, owner, project_id, experiment.id)) == 2
    experiments.delete_runs(fake_platform, owner, project_id, experiment.id, [run.id, other.id])
    assert experiments.list_runs(fake_platform, owner, project_id, experiment.id) == []
    events = audit_rows(fake_platform, "experiment_run.delete_batch")
    assert [e.outcome for e in events] == [Outcome.FAILED, Outcome.SUCCESS]
    assert events[1].detail == {"run_ids": [run.id, other.id]}


def test_a_deleted_run_leaves_the_list(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    audit_rows: Audit,
) -> None:
    owner, project_id = members["owner"], members.project_id
    experiments.delete_run(fake_platform, owner, project_id, experiment.id, run.id)
    assert experiments.list_runs(fake_platform, owner, project_id, experiment.id) == []
    (event,) = audit_rows(fake_platform, "experiment_run.delete")
    assert event.target == run.id and event.outcome is Outcome.SUCCESS


# The registry ---------------------------------------------------------------------------------


def _model_folder(platform: Platform, project_id: str, run: ExperimentRun, name: str) -> None:
    folder = server_path(platform.settings, project_id, run.artifact_uri, name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")


def register(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str, run_id: str
) -> tuple[object, object]:
    return experiments.create_registered_model(
        platform,
        principal,
        project_id=project_id,
        experiment_id=experiment_id,
        run_id=run_id,
        model_name="churn-model",
        model_path="model",
        description="first",
    )


def test_registering_a_run_model_creates_a_model_then_versions(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    audit_rows: Audit,
) -> None:
    owner, project_id = members["owner"], members.project_id
    _model_folder(fake_platform, project_id, run, "model")
    model, first = experiments.create_registered_model(
        fake_platform,
        owner,
        project_id=project_id,
        experiment_id=experiment.id,
        run_id=run.id,
        model_name="churn-model",
        model_path="/model/",
        description="first",
    )
    assert model.name == "churn-model" and model.project_id == project_id
    assert first.number == "1" and first.run_id == run.id
    assert first.source.endswith("/model")
    again, second = register(fake_platform, owner, project_id, experiment.id, run.id)
    assert second.number == "2" and again.id == model.id  # type: ignore[attr-defined]
    got = experiments.get_registered_model(fake_platform, members["viewer"], model.id)
    assert [v.number for v in got.versions] == ["1", "2"]
    version = experiments.get_model_version(fake_platform, members["viewer"], model.id, first.id)
    assert version.number == "1"
    events = audit_rows(fake_platform, "registered_model.create")
    assert [e.detail["version"] for e in events] == ["1", "2"]

    listed = experiments.list_registered_models(fake_platform, members["viewer"])
    assert [m.id for m in listed] == [model.id]
    assert experiments.list_registered_models(fake_platform, members["outsider"]) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [("", "model_path must name the model's folder"), ("nothing", "There is no MLflow model")],
)
def test_registering_without_a_model_is_refused(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    path: str,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        experiments.create_registered_model(
            fake_platform,
            members["owner"],
            project_id=members.project_id,
            experiment_id=experiment.id,
            run_id=run.id,
            model_name="m",
            model_path=path,
        )
    assert experiments.list_registered_models(fake_platform, members["owner"]) == []


def test_a_model_name_of_another_project_is_a_conflict(
    fake_platform: Platform, members: Members, experiment: Experiment, run: ExperimentRun
) -> None:
    owner, project_id = members["owner"], members.project_id
    _model_folder(fake_platform, project_id, run, "model")
    register(fake_platform, owner, project_id, experiment.id, run.id)
    elsewhere = other_project(fake_platform, members)
    exp2 = experiments.create_experiment(fake_platform, owner, elsewhere, "Other")
    run2 = experiments.create_run(fake_platform, owner, elsewhere, exp2.id)
    _model_folder(fake_platform, elsewhere, run2, "model")
    with pytest.raises(Conflict, match="already exists in another project"):
        register(fake_platform, owner, elsewhere, exp2.id, run2.id)


def test_registry_updates_and_deletes_need_write_access(
    fake_platform: Platform,
    members: Members,
    experiment: Experiment,
    run: ExperimentRun,
    audit_rows: Audit,
) -> None:
    owner, project_id = members["owner"], members.project_id
    _model_folder(fake_platform, project_id, run, "model")
    model, first = register(fake_platform, owner, project_id, experiment.id, run.id)
    _, second = register(fake_platform, owner, project_id, experiment.id, run.id)
    model_id = model.id  # type: ignore[attr-defined]

    with pytest.raises(PermissionDenied):
        experiments.update_registered_model(
            fake_platform, members["viewer"], model_id, description="hacked"
        )
    with pytest.raises(NotFound, match=f"Registered model '{model_id}' not found."):
        experiments.delete_registered_model(fake_platform, members["outsider"], model_id)
    updated = experiments.update_registered_model(
        fake_platform, members["contributor"], model_id, description="better"
    )
    assert updated.description == "better"

    experiments.delete_model_version(fake_platform, owner, model_id, first.id)  # type: ignore[attr-defined]
    left = experiments.get_registered_model(fake_platform, owner, model_id)
    assert [v.number for v in left.versions] == ["2"]
    with pytest.raises(NotFound):
        experiments.get_model_version(fake_platform, owner, model_id, first.id)  # type: ignore[attr-defined]

    experiments.delete_registered_model(fake_platform, owner, model_id)
    with pytest.raises(NotFound):
        experiments.get_registered_model(fake_platform, owner, model_id)
    assert second is not None
    outcomes = {
        action: [e.outcome for e in audit_rows(fake_platform, action)]
        for action in (
            "registered_model.update",
            "registered_model.delete",
            "registered_model.delete_version",
        )
    }
    assert outcomes == {
        "registered_model.update": [Outcome.DENIED, Outcome.SUCCESS],
        "registered_model.delete": [Outcome.FAILED, Outcome.SUCCESS],
        "registered_model.delete_version": [Outcome.SUCCESS],
    }


# experiment_access ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "write", "expected"),
    [
        ("viewer", False, None),
        ("viewer", True, PermissionDenied),
        ("operator", True, PermissionDenied),
        ("contributor", True, None),
        ("outsider", False, NotFound),
    ],
)
def test_authorize_is_the_project_rule(
    fake_platform: Platform,
    members: Members,
    role: str,
    write: bool,
    expected: type[Exception] | None,
) -> None:
    def check() -> None:
        experiment_access.authorize(
            fake_platform, members[role], members.project_id, write=write, what="Thing 'x'"
        )

    if expected is None:
        check()
        return
    with pytest.raises(expected) as caught:
        check()
    if expected is NotFound:
        assert str(caught.value) == "Thing 'x' not found."


def test_objects_of_no_project_are_read_by_site_admins_only(
    fake_platform: Platform, members: Members
) -> None:
    root = Principal(user=account(fake_platform, "root", is_admin=True), via="session")
    experiment_access.authorize(fake_platform, root, "", write=False, what="Default")
    with pytest.raises(PermissionDenied, match="belongs to no project"):
        experiment_access.authorize(fake_platform, root, "", write=True, what="Default")
    with pytest.raises(NotFound, match="Default not found."):
        experiment_access.authorize(
            fake_platform, members["owner"], "", write=False, what="Default"
        )
    readable = experiment_access.readable_projects(
        fake_platform, members["viewer"], {"", members.project_id, "gone"}
    )
    assert readable == {members.project_id}
    assert experiment_access.readable_projects(fake_platform, root, {"", "gone"}) == {""}


def test_a_cached_allowance_ends_when_access_changes(
    fake_platform: Platform, members: Members
) -> None:
    cache = AccessCache(fake_platform, lambda _settings: 300.0)
    viewer = members["viewer"]
    experiment_access.authorize(
        fake_platform, viewer, members.project_id, write=False, what="X", cache=cache
    )
    # The answer is kept: a change the platform was not told of is not seen for a while...
    with fake_platform.store.transaction() as uow:
        uow.projects.remove_member(members.project_id, user_id=viewer.user.id, team_id=None)
    experiment_access.authorize(
        fake_platform, viewer, members.project_id, write=False, what="X", cache=cache
    )
    projects.set_collaborator(
        fake_platform, members["owner"], members.project_id, "viewer", "viewer"
    )
    # ...but one made through a service ends every kept answer at once.
    projects.remove_collaborator(fake_platform, members["owner"], members.project_id, "viewer")
    with pytest.raises(NotFound):
        experiment_access.authorize(
            fake_platform, viewer, members.project_id, write=False, what="X", cache=cache
        )

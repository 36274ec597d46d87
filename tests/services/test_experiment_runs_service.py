"""Legacy experiment runs (services/experiment_runs.py) called directly: a launch snapshots
the project (later edits do not reach it) and is audited with what it ran, a refused launch
leaves nothing behind, tracked metrics come back as the script gave them, tracked files by
their paths (and nothing outside them), and the roles of viewing and stopping.

No workload runs here: what a run writes (``metrics.jsonl``, ``cdsw.track_file`` copies) is
written into its working copy where the ``cdsw`` module puts it; the API and browser tests
run real scripts (tests/api/test_legacy_experiments_api.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.services.conftest import ROLES, Members

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.jobs import JobKind, RunStatus, Trigger
from lakeworks.entities.legacy_experiments import LegacyRun, TrackedFile
from lakeworks.errors import HTTP_STATUS, InvalidInput, InvalidState, NotFound, PermissionDenied
from lakeworks.services import experiment_runs, jobs
from lakeworks.services.experiment_runs import RunFields
from lakeworks.services.platform import Platform

Audit = Callable[[Platform, str], list[AuditEvent]]
LAUNCHERS = ["owner", "admin", "contributor"]
STOPPERS = ["owner", "admin", "contributor", "operator"]
TRAIN = "import cdsw\ncdsw.track_metric('auc', 0.9)\n"


@pytest.fixture
def root(fake_platform: Platform, members: Members) -> Path:
    """The project's files: a training script, a data file and an ignored scratch script."""
    path = fake_platform.settings.projects_dir / members.project_id
    (path / "src").mkdir(parents=True, exist_ok=True)
    (path / "src" / "train.py").write_text(TRAIN)
    (path / "data.csv").write_text("a,b\n1,2\n")
    (path / ".gitignore").write_text("scratch/\n")
    (path / "scratch").mkdir()
    (path / "scratch" / "try.py").write_text("print('scratch')\n")
    return path


def launch(
    platform: Platform, members: Members, role: str = "contributor", **fields: Any
) -> LegacyRun:
    asked = RunFields(script="src/train.py", arguments="--alpha 0.5", comment="first try")
    return experiment_runs.create(
        platform, members[role], members.project_id, replace(asked, **fields)
    )


def output(platform: Platform, run: LegacyRun) -> Path:
    """Where the run's ``cdsw`` module writes its metrics and tracked files."""
    work = experiment_runs.work_dir(platform.settings, run.project_id, run.id)
    return work / experiment_runs.OUTPUT_DIR / run.id


def track(platform: Platform, run: LegacyRun, *lines: object) -> None:
    """Append lines to the run's metrics.jsonl (dicts as JSON, strings as they are)."""
    folder = output(platform, run)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "metrics.jsonl").open("a") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


@pytest.mark.parametrize("role", LAUNCHERS)
def test_a_launch_snapshots_the_project_queues_a_hidden_job_and_is_audited(
    fake_platform: Platform, members: Members, root: Path, audit_rows: Audit, role: str
) -> None:
    run = launch(fake_platform, members, role)

    assert run.status is RunStatus.SCHEDULED
    assert (run.script, run.arguments, run.comment) == ("src/train.py", "--alpha 0.5", "first try")
    assert run.job.kind is JobKind.EXPERIMENT and run.run.trigger is Trigger.MANUAL
    assert run.run.user_id == members[role].user.id and run.history == []
    snapshot = experiment_runs.snapshot_files(
        fake_platform, members["viewer"], members.project_id, run.id
    )
    assert sorted(f.path for f in snapshot) == [".gitignore", "data.csv", "src/train.py"]
    assert TrackedFile("src/train.py", len(TRAIN)) in snapshot
    work = experiment_runs.work_dir(fake_platform.settings, members.project_id, run.id)
    assert (work / "src" / "train.py").read_text() == TRAIN

    [event] = audit_rows(fake_platform, "experiment_run.create")
    assert (event.outcome, event.actor, event.target) == (Outcome.SUCCESS, role, run.id)
    assert event.project_id == members.project_id
    assert event.detail == {
        "script": "src/train.py",
        "arguments": "--alpha 0.5",
        "cpu": 1.0,
        "memory_mb": 2048,
        "snapshot_files": 3,
        "snapshot_bytes": len(TRAIN) + len("a,b\n1,2\n") + len("scratch/\n"),
    }
    # Its job is hidden: the project's jobs do not list it.
    assert jobs.list_jobs(fake_platform, members["owner"], members.project_id) == []


def test_edits_after_the_launch_do_not_reach_the_snapshot(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    (root / "src" / "train.py").write_text("print('edited later')\n")
    (root / "new.py").write_text("print('added later')\n")

    download = experiment_runs.open_snapshot_file(
        fake_platform, members["viewer"], members.project_id, run.id, "src/train.py"
    )
    with download.handle:
        assert download.handle.read().decode() == TRAIN
    assert download.name == "train.py" and download.size == len(TRAIN)
    listed = experiment_runs.snapshot_files(
        fake_platform, members["owner"], members.project_id, run.id
    )
    assert "new.py" not in [f.path for f in listed]


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_may_not_launch_and_the_refusal_is_audited(
    fake_platform: Platform, members: Members, root: Path, audit_rows: Audit, role: str
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        launch(fake_platform, members, role)
    assert HTTP_STATUS[refused.value.code] == 403
    assert experiment_runs.list_runs(fake_platform, members["owner"], members.project_id) == []
    [event] = audit_rows(fake_platform, "experiment_run.create")
    assert (event.outcome, event.actor) == (Outcome.DENIED, role)
    assert not experiment_runs.snapshots_root(fake_platform.settings, members.project_id).exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"script": "scratch/try.py"}, "is left out of the snapshot"),
        ({"script": "src/missing.py"}, "Script 'src/missing.py' does not exist in the project."),
        ({"script": "data.csv"}, "'data.csv' is not a script Lakeworks can run"),
        ({"script": "  "}, "An experiment needs a script"),
        ({"gpu": 1}, "Experiment runs cannot have GPUs here; ask for 0 GPUs."),
    ],
)
def test_a_refused_launch_is_audited_as_failed_and_leaves_no_snapshot(
    fake_platform: Platform,
    members: Members,
    root: Path,
    audit_rows: Audit,
    fields: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        launch(fake_platform, members, **fields)
    assert message in refused.value.message
    assert HTTP_STATUS[refused.value.code] == 400

    [event] = audit_rows(fake_platform, "experiment_run.create")
    assert event.outcome is Outcome.FAILED and event.detail["error"] == refused.value.message
    assert (
        list(experiment_runs.snapshots_root(fake_platform.settings, members.project_id).glob("*"))
        == []
    )
    assert experiment_runs.list_runs(fake_platform, members["owner"], members.project_id) == []


def test_tracked_metrics_are_kept_as_the_script_gave_them(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    track(
        fake_platform,
        run,
        {"key": "auc", "value": 0.5, "timestamp_ms": 1},
        {"key": "model", "value": "gbm", "timestamp_ms": 2},
        {"key": "params", "value": {"depth": 3, "eta": 0.1}, "timestamp_ms": 3},
        {"key": "folds", "value": [0.81, 0.83], "timestamp_ms": 4},
        {"key": "converged", "value": True, "timestamp_ms": 5},
        {"key": "note", "value": None},
        {"key": "auc", "value": 0.91, "timestamp_ms": 6},
        "not json at all",
        {"value": "no key"},
        ["a", "list"],
    )

    found = experiment_runs.get(fake_platform, members["viewer"], members.project_id, run.id)

    assert found.metrics == {
        "auc": 0.91,
        "model": "gbm",
        "params": {"depth": 3, "eta": 0.1},
        "folds": [0.81, 0.83],
        "converged": True,
        "note": None,
    }
    assert [(m.key, m.timestamp_ms) for m in found.history] == [
        ("auc", 1),
        ("model", 2),
        ("params", 3),
        ("folds", 4),
        ("converged", 5),
        ("note", 0),
        ("auc", 6),
    ]
    shown = {key: experiment_runs.metric_text(value) for key, value in found.metrics.items()}
    assert shown == {
        "auc": "0.91",
        "model": "gbm",
        "params": '{"depth": 3, "eta": 0.1}',
        "folds": "[0.81, 0.83]",
        "converged": "true",
        "note": "null",
    }
    assert experiment_runs.metric_text(7) == "7"
    assert experiment_runs.metric_text(1e-7) == "1e-07"


def test_keys_past_the_limit_are_left_out(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    most = experiment_runs.MAX_METRIC_KEYS
    track(fake_platform, run, *({"key": f"m{i}", "value": i} for i in range(most + 5)))
    track(fake_platform, run, {"key": "m0", "value": "again"})  # a key already kept

    found = experiment_runs.get(fake_platform, members["owner"], members.project_id, run.id)

    assert list(found.metrics) == [f"m{i}" for i in range(most)]
    assert found.metrics["m0"] == "again"


def test_the_runs_table_lists_newest_first_with_every_metric_key_in_order(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    first = launch(fake_platform, members, comment="first")
    second = launch(fake_platform, members, comment="second")
    track(fake_platform, first, {"key": "loss", "value": 1}, {"key": "auc", "value": 0.7})
    track(fake_platform, second, {"key": "auc", "value": 0.8}, {"key": "f1", "value": 0.6})

    listed = experiment_runs.list_runs(fake_platform, members["viewer"], members.project_id)

    assert [r.id for r in listed] == [second.id, first.id]
    assert experiment_runs.metric_keys(listed) == ["loss", "auc", "f1"]


def test_tracked_files_are_listed_and_served_by_their_paths(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    files = output(fake_platform, run) / "files"
    (files / "plots").mkdir(parents=True)
    (files / "model.pkl").write_bytes(b"\x80\x04model")
    (files / "plots" / "roc.png").write_bytes(b"PNG" * 10)
    os.symlink(root / "data.csv", files / "linked.csv")
    # Written by the run outside its tracked files: not a tracked file.
    (output(fake_platform, run) / "elsewhere.txt").write_text("not tracked")

    listed = experiment_runs.tracked_files(
        fake_platform, members["viewer"], members.project_id, run.id
    )
    assert sorted((f.path, f.size) for f in listed) == [("model.pkl", 7), ("plots/roc.png", 30)]

    download = experiment_runs.open_tracked_file(
        fake_platform, members["viewer"], members.project_id, run.id, "plots/roc.png"
    )
    with download.handle:
        assert download.handle.read() == b"PNG" * 10
    assert (download.name, download.size) == ("roc.png", 30)

    open_file = experiment_runs.open_tracked_file
    with pytest.raises(NotFound) as missing:
        open_file(fake_platform, members["viewer"], members.project_id, run.id, "nope.txt")
    assert missing.value.message == "No file 'nope.txt' in this run."
    with pytest.raises(InvalidInput) as unnamed:
        open_file(fake_platform, members["viewer"], members.project_id, run.id, "")
    assert unnamed.value.message == "Name a file."
    with pytest.raises(InvalidInput):
        open_file(fake_platform, members["viewer"], members.project_id, run.id, "../metrics.jsonl")
    # A link the run planted is not followed.
    with pytest.raises(InvalidInput) as linked:
        open_file(fake_platform, members["viewer"], members.project_id, run.id, "linked.csv")
    assert linked.value.message.endswith("linked.csv' is a symbolic link; it is not followed.")


def test_a_run_that_tracked_nothing_has_no_files_metrics_or_log(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    viewer = members["viewer"]
    assert experiment_runs.tracked_files(fake_platform, viewer, members.project_id, run.id) == []
    data, offset, found = experiment_runs.read_log(
        fake_platform, viewer, members.project_id, run.id, 5
    )
    assert (data, offset, found.id) == (b"", 5, run.id)
    assert found.history == []


def test_an_outsider_sees_no_run_and_an_unknown_run_is_not_found(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    outsider = members["outsider"]
    for call in (
        experiment_runs.get,
        experiment_runs.tracked_files,
        experiment_runs.snapshot_files,
        experiment_runs.stop,
    ):
        with pytest.raises(NotFound):
            call(fake_platform, outsider, members.project_id, run.id)
    with pytest.raises(NotFound) as missing:
        experiment_runs.get(fake_platform, members["viewer"], members.project_id, "nope")
    assert missing.value.message == "Experiment run 'nope' not found in this project."
    with pytest.raises(NotFound):
        experiment_runs.list_runs(fake_platform, outsider, members.project_id)


@pytest.mark.parametrize("role", STOPPERS)
def test_a_queued_run_stops_at_once_and_only_once(
    fake_platform: Platform, members: Members, root: Path, audit_rows: Audit, role: str
) -> None:
    run = launch(fake_platform, members)

    stopped = experiment_runs.stop(fake_platform, members[role], members.project_id, run.id)

    assert stopped.status is RunStatus.STOPPED
    assert stopped.run.reason == f"stopped by {role}" and stopped.run.finished_at is not None
    with pytest.raises(InvalidState) as again:
        experiment_runs.stop(fake_platform, members[role], members.project_id, run.id)
    assert again.value.message == f"Run {run.id} already ended (stopped)."
    assert HTTP_STATUS[again.value.code] == 409
    events = audit_rows(fake_platform, "experiment_run.stop")
    assert [(e.outcome, e.actor) for e in events] == [
        (Outcome.SUCCESS, role),
        (Outcome.FAILED, role),
    ]


def test_a_viewer_may_not_stop_a_run(
    fake_platform: Platform, members: Members, root: Path, audit_rows: Audit
) -> None:
    run = launch(fake_platform, members)
    with pytest.raises(PermissionDenied):
        experiment_runs.stop(fake_platform, members["viewer"], members.project_id, run.id)
    found = experiment_runs.get(fake_platform, members["owner"], members.project_id, run.id)
    assert found.status is RunStatus.SCHEDULED
    [event] = audit_rows(fake_platform, "experiment_run.stop")
    assert (event.outcome, event.actor) == (Outcome.DENIED, "viewer")


def test_a_running_run_is_asked_to_stop_and_is_not_asked_twice(
    fake_platform: Platform, members: Members, root: Path
) -> None:
    run = launch(fake_platform, members)
    with fake_platform.store.transaction() as uow:
        assert uow.jobs.move_run(run.id, RunStatus.SCHEDULED, RunStatus.STARTING)
        assert uow.jobs.move_run(run.id, RunStatus.STARTING, RunStatus.RUNNING)

    stopping = experiment_runs.stop(fake_platform, members["operator"], members.project_id, run.id)

    assert stopping.status is RunStatus.STOPPING and stopping.run.finished_at is None
    with pytest.raises(InvalidState) as again:
        experiment_runs.stop(fake_platform, members["operator"], members.project_id, run.id)
    assert again.value.message == f"Run {run.id} is already stopping."


def test_every_member_reads_a_run(fake_platform: Platform, members: Members, root: Path) -> None:
    run = launch(fake_platform, members)
    for role in ROLES[:-1]:
        found = experiment_runs.get(fake_platform, members[role], members.project_id, run.id)
        assert found.id == run.id and found.script == "src/train.py"

"""Legacy experiments: CDSW's "Run Experiment" (CML compat §3.4).

A run is a script with arguments, run once, non-interactively, from a SNAPSHOT of the
project's files taken when it is launched: edits made to the project afterwards do not change
it, and what the script writes stays in its own copy of the snapshot (CDSW ran experiments in
an image built from such a snapshot). It is built on the jobs machinery, as §3.4 allows: each
run is a job run of its own hidden job (``JobKind.EXPERIMENT``, never listed with the
project's jobs), so quota, start, stop, exit, timeouts and recovery after a restart are the
job runs' own (``services/jobs.py``); ``launch_request`` makes the launch run from a copy of
the snapshot, after its build step (``cdsw-build.sh``), with ``CDSW_ENGINE_TYPE=experiment``.

``cdsw.track_metric`` values (numbers, strings, bools, dicts, lists) and ``cdsw.track_file``
copies land in the run's output folder (``.lakeworks/runs/<run id>``) of its working copy of
the snapshot: the server reads them there, through ``safe_paths`` (the run wrote that folder).
The snapshot itself stays as it was taken (the run page lists and serves it).

Rules: project viewers see runs, their logs, metrics, tracked files and snapshots;
contributors launch runs (a run makes a new workload definition, as creating a job does);
operators and above stop them. Launching and stopping are audited.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from lakeworks import bounds, safe_paths
from lakeworks.config import Settings
from lakeworks.entities.jobs import Job, JobKind, JobRun, RunStatus, ScheduleKind, Trigger
from lakeworks.entities.legacy_experiments import LegacyRun, TrackedFile, TrackedMetric
from lakeworks.errors import InvalidInput, InvalidState, LakeworksError, NotFound
from lakeworks.services import files, model_builds, workloads
from lakeworks.services.ids import public_id
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork
from lakeworks.workload import SCRIPT_SUFFIXES

log = logging.getLogger(__name__)

# What one run may track and the server reads back: CML's limits are 50 metrics per run
# (soft) and 100 (hard), 50 MB per tracked file.
MAX_METRIC_KEYS = 100
MAX_METRICS_BYTES = 8 * 1024 * 1024
MAX_LISTED_RUNS = 500
MAX_LISTED_FILES = 10_000
OUTPUT_DIR = ".lakeworks/runs"


@dataclass(frozen=True)
class RunFields:
    """What a person (or an AMP ``run_experiment`` task) asks for, already parsed."""

    script: str
    arguments: str = ""
    runtime_identifier: str = ""
    cpu: float = 1.0
    memory_mb: int = 2048
    gpu: int = 0
    comment: str = ""


def snapshots_root(settings: Settings, project_id: str) -> Path:
    """Where the project's experiment snapshots live (removed with the project)."""
    return settings.data_dir / "experiments" / project_id


def run_dir(settings: Settings, project_id: str, run_id: str) -> Path:
    return snapshots_root(settings, project_id) / run_id


def snapshot_dir(settings: Settings, project_id: str, run_id: str) -> Path:
    """The project's files as they were at launch: the server's, never given to a workload."""
    return run_dir(settings, project_id, run_id) / "snapshot"


def work_dir(settings: Settings, project_id: str, run_id: str) -> Path:
    """A copy of the snapshot the run runs in (its /home/cdsw): what it writes lands here,
    its tracked metrics and files under ``.lakeworks/runs/<run id>``."""
    return run_dir(settings, project_id, run_id) / "work"


def _output(run_id: str) -> str:
    return f"{OUTPUT_DIR}/{run_id}"


# Launching -----------------------------------------------------------------------------


def _check(platform: Platform, project_id: str, fields: RunFields) -> tuple[str, str]:
    """The cleaned script path and comment; InvalidInput says what is wrong."""
    if not fields.script.strip():
        raise InvalidInput("An experiment needs a script: a .py, .ipynb or .sh file.")
    script = files.clean_relative(fields.script.strip()).as_posix()
    if script in ("", "."):
        raise InvalidInput("An experiment needs a script: a .py, .ipynb or .sh file.")
    if not script.endswith(SCRIPT_SUFFIXES):
        raise InvalidInput(f"{script!r} is not a script Lakeworks can run (.py, .ipynb, .sh).")
    if not safe_paths.is_file(files.project_root(platform, project_id), script):
        raise InvalidInput(f"Script {script!r} does not exist in the project.")
    bounds.check_text("arguments", fields.arguments)
    bounds.check_resources(fields.cpu, fields.memory_mb, fields.gpu)
    if fields.gpu:
        raise InvalidInput("Experiment runs cannot have GPUs here; ask for 0 GPUs.")
    comment = bounds.check_name("The comment", fields.comment.strip())
    return script, comment


def create(
    platform: Platform,
    principal: Principal,
    project_id: str,
    fields: RunFields,
    *,
    via: Trigger = Trigger.MANUAL,
) -> LegacyRun:
    """Snapshot the project's files now and queue the run (the scheduler starts it).
    Refusals (permission, bad input, a project too large to snapshot) are audited too."""
    run_id = public_id()
    settings = platform.settings
    dest = snapshot_dir(settings, project_id, run_id)
    try:
        with platform.command(
            principal, "experiment_run.create", target=run_id, project_id=project_id
        ) as cmd:
            require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
            script, comment = _check(platform, project_id, fields)
            copied, size = model_builds.snapshot(
                platform, files.project_root(platform, project_id), dest
            )
            if not safe_paths.is_file(dest, script):
                raise InvalidInput(
                    f"Script {script!r} is left out of the snapshot (.gitignore, or not a "
                    "plain file); an experiment runs from the snapshot."
                )
            safe_paths.copy_tree(
                dest,
                "",
                work_dir(settings, project_id, run_id),
                max_bytes=settings.model_build_max_bytes,
                max_files=settings.max_archive_members,
            )
            _add(cmd.uow, principal, project_id, run_id, script, comment, fields, via)
            cmd.detail = {
                "script": script,
                "arguments": fields.arguments,
                "cpu": fields.cpu,
                "memory_mb": fields.memory_mb,
                "snapshot_files": copied,
                "snapshot_bytes": size,
            }
    except BaseException:
        shutil.rmtree(run_dir(settings, project_id, run_id), ignore_errors=True)
        raise
    platform.nudge()
    return get(platform, principal, project_id, run_id)


def _add(
    uow: UnitOfWork,
    principal: Principal,
    project_id: str,
    run_id: str,
    script: str,
    comment: str,
    fields: RunFields,
    via: Trigger,
) -> None:
    now = utcnow()
    job = uow.jobs.add(
        id=public_id(),
        project_id=project_id,
        kind=JobKind.EXPERIMENT.value,
        name=comment,
        script=script,
        arguments=fields.arguments,
        runtime_identifier=fields.runtime_identifier or "",
        cpu=float(fields.cpu),
        memory_mb=int(fields.memory_mb),
        environment={},
        schedule_kind=ScheduleKind.MANUAL.value,
        creator_id=principal.user.id,
        created_at=now,
        updated_at=now,
    )
    uow.jobs.add_run(
        id=run_id,
        job_id=job.id,
        project_id=project_id,
        status=RunStatus.SCHEDULED.value,
        trigger=via.value,
        user_id=principal.user.id,
        arguments=fields.arguments,
        environment={},
        parent_run_id=None,
        scheduled_for=None,
        cpu=float(fields.cpu),
        memory_mb=int(fields.memory_mb),
        created_at=now,
        reason="",
    )


# The build step of an experiment (compat §1.5, §3.4), run in its copy of the snapshot before
# the script (the script's argv follows): ``bash cdsw-build.sh`` when the snapshot has one
# (CRLF line endings tolerated); a failure fails the run, with the build's output in its log.
_BUILD_THEN_RUN = r"""
cd "$LAKEWORKS_PROJECT_HOME" 2>/dev/null || true
if [ -f cdsw-build.sh ]; then
  echo "Running cdsw-build.sh (the experiment's build step)"
  build="$(mktemp)"
  tr -d '\r' < cdsw-build.sh > "$build"
  bash "$build"; code=$?
  rm -f "$build"
  [ "$code" -eq 0 ] || { echo "cdsw-build.sh exited with $code"; exit "$code"; }
fi
exec "$@"
"""


def launch_request(
    platform: Platform, request: workloads.LaunchRequest, run: JobRun
) -> workloads.LaunchRequest:
    """A job run's launch, made an experiment's: from its copy of the snapshot, after the
    build step, as engine type ``experiment`` (what the legacy ``cdsw`` module looks at),
    with its output folders."""
    work = work_dir(platform.settings, run.project_id, run.id)
    runtime, script, arguments = request.runtime, request.script, request.arguments

    def command(ctx: workloads.LaunchContext) -> list[str]:
        argv = runtime.command(f"{ctx.project_home}/{script}", arguments)
        return ["/bin/bash", "-c", _BUILD_THEN_RUN, "lakeworks-experiment", *argv]

    def outputs(ctx: workloads.LaunchContext) -> dict[str, str]:
        output = f"{ctx.project_home}/{_output(run.id)}"
        # CDSW_OUTPUT_DIR: where third-party copies of ``cdsw`` put track_file copies.
        return {"LAKEWORKS_OUTPUT_DIR": output, "CDSW_OUTPUT_DIR": f"{output}/files"}

    return replace(
        request,
        project_dir=work,
        command=command,
        identity={"CDSW_ENGINE_TYPE": "experiment", "CDSW_EXPERIMENT_ID": run.id},
        platform_env=outputs,
    )


def stop(platform: Platform, principal: Principal, project_id: str, run_id: str) -> LegacyRun:
    with platform.command(
        principal, "experiment_run.stop", target=run_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        _, run = _find(cmd.uow, project_id, run_id)
        if run.status.is_final:
            raise InvalidState(f"Run {run_id} already ended ({run.status.value}).")
        if run.status is RunStatus.STOPPING:
            raise InvalidState(f"Run {run_id} is already stopping.")
        workload_id = None
        if run.status is RunStatus.SCHEDULED:
            cmd.uow.jobs.move_run(
                run_id,
                RunStatus.SCHEDULED,
                RunStatus.STOPPED,
                finished_at=utcnow(),
                reason=f"stopped by {principal.user.username}",
            )
        else:
            cmd.uow.jobs.move_run(run_id, run.status, RunStatus.STOPPING)
            workload_id = run.workload_id
    if workload_id:
        workloads.request_stop(platform, workload_id, f"stopped by {principal.user.username}")
    return get(platform, principal, project_id, run_id)


# Reading -------------------------------------------------------------------------------


def _find(uow: UnitOfWork, project_id: str, run_id: str) -> tuple[Job, JobRun]:
    found = uow.jobs.experiment_runs(project_id, run_id=run_id, limit=1)
    if not found:
        raise NotFound(f"Experiment run {run_id!r} not found in this project.")
    return found[0]


def get(platform: Platform, principal: Principal, project_id: str, run_id: str) -> LegacyRun:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        found = uow.jobs.experiment_runs(project_id, run_id=run_id, limit=1)
    if not found:
        raise NotFound(f"Experiment run {run_id!r} not found in this project.")
    job, run = found[0]
    return LegacyRun(job, run, _metrics(platform, run))


def list_runs(platform: Platform, principal: Principal, project_id: str) -> list[LegacyRun]:
    """The project's experiment runs, newest first, each with its tracked metrics."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        found = uow.jobs.experiment_runs(project_id, limit=MAX_LISTED_RUNS)
    return [LegacyRun(job, run, _metrics(platform, run)) for job, run in found]


def metric_keys(runs: list[LegacyRun]) -> list[str]:
    """Every metric key of the runs, in the order first seen (oldest run first): the
    Experiments table's columns."""
    keys: dict[str, None] = {}
    for run in reversed(runs):
        keys.update(dict.fromkeys(run.metrics))
    return list(keys)


def _metrics(platform: Platform, run: JobRun) -> list[TrackedMetric]:
    """The run's ``metrics.jsonl``: a line it cannot read is skipped; keys beyond
    ``MAX_METRIC_KEYS`` are left out (with a warning)."""
    root = work_dir(platform.settings, run.project_id, run.id)
    try:
        raw = safe_paths.read_bytes(
            root, f"{_output(run.id)}/metrics.jsonl", max_bytes=MAX_METRICS_BYTES
        )
    except FileNotFoundError:
        return []
    except (LakeworksError, OSError) as exc:
        log.warning("experiment run %s: its metrics file is refused: %s", run.id, exc)
        return []
    history: list[TrackedMetric] = []
    keys: set[str] = set()
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            key, value = str(record["key"]), record["value"]
            stamp = int(record.get("timestamp_ms", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if key not in keys and len(keys) >= MAX_METRIC_KEYS:
            log.warning(
                "experiment run %s: metric %r over the %d-key limit", run.id, key, MAX_METRIC_KEYS
            )
            continue
        keys.add(key)
        history.append(TrackedMetric(key[: bounds.MAX_NAME], value, stamp))
    return history


def read_log(
    platform: Platform, principal: Principal, project_id: str, run_id: str, offset: int = 0
) -> tuple[bytes, int, LegacyRun]:
    found = get(platform, principal, project_id, run_id)
    if not found.run.workload_id:
        return b"", offset, found
    data, next_offset = workloads.read_log(
        platform, workloads.get(platform, found.run.workload_id), offset
    )
    return data, next_offset, found


def _listing(root: Path, rel: str, exclude_top: frozenset[str] = frozenset()) -> list[TrackedFile]:
    if not safe_paths.is_dir(root, rel):
        return []
    found: list[TrackedFile] = []
    for path, dir_fd in safe_paths.walk_files(root, rel, exclude_top=exclude_top):
        try:
            st = os.stat(path.rsplit("/", 1)[-1], dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile
        found.append(TrackedFile(path, st.st_size))
        if len(found) >= MAX_LISTED_FILES:
            break
    return found


def tracked_files(
    platform: Platform, principal: Principal, project_id: str, run_id: str
) -> list[TrackedFile]:
    """The files the run recorded with ``cdsw.track_file``."""
    get(platform, principal, project_id, run_id)
    root = work_dir(platform.settings, project_id, run_id)
    return _listing(root, f"{_output(run_id)}/files")


def snapshot_files(
    platform: Platform, principal: Principal, project_id: str, run_id: str
) -> list[TrackedFile]:
    """The project files the run ran from, as they were when it was launched."""
    get(platform, principal, project_id, run_id)
    return _listing(snapshot_dir(platform.settings, project_id, run_id), "")


def _open(root: Path, inside: str, rel: str) -> files.Download:
    """A file of the run (``root`` is the server's snapshot folder; everything under it is
    the run's and opened without following a link)."""
    clean = files.clean_relative(rel).as_posix()
    if clean in ("", "."):
        raise InvalidInput("Name a file.")
    try:
        handle, st = safe_paths.open_reader(root, f"{inside}/{clean}".lstrip("/"))
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"No file {clean!r} in this run.") from None
    except OSError as exc:  # a name too long, a folder the run made unreadable...
        raise InvalidInput(f"Cannot read {clean!r}: {exc.strerror or exc}.") from exc
    return files.Download(PurePosixPath(clean).name, st.st_size, handle)


def open_tracked_file(
    platform: Platform, principal: Principal, project_id: str, run_id: str, path: str
) -> files.Download:
    get(platform, principal, project_id, run_id)
    root = work_dir(platform.settings, project_id, run_id)
    return _open(root, f"{_output(run_id)}/files", path)


def open_snapshot_file(
    platform: Platform, principal: Principal, project_id: str, run_id: str, path: str
) -> files.Download:
    get(platform, principal, project_id, run_id)
    return _open(snapshot_dir(platform.settings, project_id, run_id), "", path)


def metric_text(value: object) -> str:
    """A tracked value as the Experiments table shows it: as given (dicts and lists as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True)

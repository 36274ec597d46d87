"""/api/v2/projects/{id}/legacy_experiments: CDSW's "Run Experiment" runs (CML compat §3.4).

CML has no public API for legacy experiments; these routes are Lakeworks's own, in API v2's
style, for the UI, scripts and tests. They are not MLflow's experiments (``/experiments``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from lakeworks import bounds
from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.files import FILE_BYTES, stream_download
from lakeworks.api.schemas import Cpu, Gpus, Lenient, MemoryGiB, Name, Text, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.legacy_experiments import LegacyRun, TrackedFile
from lakeworks.services import experiment_runs
from lakeworks.services.files import Download
from lakeworks.services.platform import Platform, Principal

router = APIRouter(tags=["legacy experiments"], route_class=StrictJSONRoute)

BASE = "/projects/{project_id}/legacy_experiments"


class RunIn(Lenient):
    """Run Experiment: a script of the project, its arguments (one string, split as a shell
    would) and resources; unknown keys are ignored."""

    script: Text = ""
    arguments: Text = ""
    runtime_identifier: Name = ""
    kernel: Name = ""  # CDSW's engine kernel: the runtime's Python is used
    cpu: Cpu = None
    memory: MemoryGiB = None  # GiB, as CML
    nvidia_gpu: Gpus = None
    comment: Name = ""


def run_out(found: LegacyRun) -> dict[str, Any]:
    run = found.run
    return {
        "id": run.id,
        "project_id": run.project_id,
        "status": run.status.engine_status,
        "script": found.script,
        "arguments": found.arguments,
        "comment": found.comment,
        "runtime_identifier": found.job.runtime_identifier,
        "engine_id": run.workload_id or "",
        "cpu": run.cpu,
        "memory": run.memory_mb / 1024,
        "nvidia_gpu": 0,
        "created_at": rfc3339(run.created_at),
        "starting_at": rfc3339(run.starting_at),
        "running_at": rfc3339(run.running_at),
        "finished_at": rfc3339(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "exit_code": run.exit_code,
        "reason": run.reason,
        "creator": {"username": run.username, "name": run.username, "email": ""},
        "metrics": found.metrics,
    }


def _file_out(item: TrackedFile) -> dict[str, Any]:
    return {"path": item.path, "size": item.size}


@router.get(
    BASE,
    operation_id="list_legacy_experiment_runs",
    response_model=responses.ListLegacyExperimentRunsResponse,
)
def list_runs(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """The project's runs, newest first, with the last value of each tracked metric, and
    ``metric_keys``: every key the runs tracked (the Experiments table's columns)."""
    runs = experiment_runs.list_runs(platform, principal, project_id)
    return {
        "legacy_experiments": [run_out(r) for r in runs],
        "metric_keys": experiment_runs.metric_keys(runs),
        "next_page_token": "",
    }


@router.post(
    BASE,
    operation_id="create_legacy_experiment_run",
    response_model=responses.LegacyExperimentRun,
)
def create_run(
    project_id: str, body: RunIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Run Experiment: snapshot the project's files now and run the script from them."""
    fields = experiment_runs.RunFields(
        script=body.script,
        arguments=body.arguments,
        runtime_identifier=body.runtime_identifier,
        cpu=1.0 if body.cpu is None else body.cpu,
        memory_mb=1024 if body.memory is None else bounds.memory_mb(body.memory),
        gpu=body.nvidia_gpu or 0,
        comment=body.comment,
    )
    return run_out(experiment_runs.create(platform, principal, project_id, fields))


@router.get(
    BASE + "/{run_id}",
    operation_id="get_legacy_experiment_run",
    response_model=responses.LegacyExperimentRun,
)
def get_run(
    project_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One run, with ``metric_history``: every tracked value in the order tracked."""
    found = experiment_runs.get(platform, principal, project_id, run_id)
    history = [
        {"key": m.key, "value": m.value, "timestamp_ms": m.timestamp_ms} for m in found.history
    ]
    return run_out(found) | {"metric_history": history}


@router.post(
    BASE + "/{run_id}/stop",
    operation_id="stop_legacy_experiment_run",
    response_model=responses.LegacyExperimentRun,
)
def stop_run(
    project_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return run_out(experiment_runs.stop(platform, principal, project_id, run_id))


@router.get(
    BASE + "/{run_id}/logs",
    operation_id="get_legacy_experiment_run_logs",
    response_model=responses.LegacyExperimentRunLog,
)
def run_logs(
    project_id: str,
    run_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0, le=2**62),
) -> dict[str, Any]:
    """Log text from ``offset``; poll with ``next_offset`` while ``finished`` is false."""
    data, next_offset, found = experiment_runs.read_log(
        platform, principal, project_id, run_id, offset
    )
    return {
        "text": data.decode("utf-8", errors="replace"),
        "offset": offset,
        "next_offset": next_offset,
        "finished": found.status.is_final,
        "status": found.status.engine_status,
    }


def _folder_routes(
    segment: str,
    names: tuple[str, str, str, str],
    doc: str,
    listing: Callable[[Platform, Principal, str, str], list[TrackedFile]],
    opening: Callable[[Platform, Principal, str, str, str], Download],
) -> None:
    """The two routes of one folder of a run: its file list and a file's bytes. ``names``:
    the list's and the download's operation ids and route names."""
    list_id, list_name, download_id, download_name = names

    @router.get(
        f"{BASE}/{{run_id}}/{segment}",
        operation_id=list_id,
        name=list_name,
        description=doc,
        response_model=responses.ListTrackedFilesResponse,
    )
    def list_folder(
        project_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        return {"files": [_file_out(f) for f in listing(platform, principal, project_id, run_id)]}

    @router.get(
        f"{BASE}/{{run_id}}/{segment}/{{path:path}}",
        operation_id=download_id,
        name=download_name,
        response_class=StreamingResponse,
        responses={200: FILE_BYTES},
    )
    def download(
        project_id: str, run_id: str, path: str, platform: PlatformDep, principal: PrincipalDep
    ) -> StreamingResponse:
        return stream_download(opening(platform, principal, project_id, run_id, path))


_folder_routes(
    "files",
    (
        "list_legacy_experiment_run_files",
        "list_tracked",
        "download_legacy_experiment_run_file",
        "download_tracked",
    ),
    "The files the run recorded with ``cdsw.track_file``.",
    experiment_runs.tracked_files,
    experiment_runs.open_tracked_file,
)
_folder_routes(
    "snapshot",
    (
        "list_legacy_experiment_run_snapshot",
        "list_snapshot",
        "download_legacy_experiment_run_snapshot_file",
        "download_snapshot",
    ),
    "The project files the run ran from (a snapshot taken when it was launched).",
    experiment_runs.snapshot_files,
    experiment_runs.open_snapshot_file,
)

"""/api/v2/projects/{id}/workers: what ``cdsw.launch_workers`` and friends call (compat §12).

Lakeworks' own routes (CML's library spoke to an internal API): not in the API v2 OpenAPI
document. The caller is a session or job run speaking with its own ``CDSW_APIV2_KEY`` and
naming itself (``parent_id``: its ``CDSW_ENGINE_ID``); see ``services.workers`` for the rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Cpu, EnvironmentIn, Gpus, Lenient, MemoryGiB, Name, Text, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.services import workers
from lakeworks.services.workers import Worker, WorkerFields

router = APIRouter(tags=["workers"], route_class=StrictJSONRoute, include_in_schema=False)


class WorkersIn(Lenient):
    """``launch_workers(n, cpu, memory, nvidia_gpu, kernel, script, code, env, name)``."""

    parent_id: Name
    n: int = 1
    cpu: Cpu = None
    memory: MemoryGiB = None  # GB, as CML
    nvidia_gpu: Gpus = None
    kernel: Name | None = None  # accepted, as CML's "python3": workers use the parent's
    script: Text | None = None
    code: Text | None = None
    env: EnvironmentIn = None
    name: Name | None = None


class StopIn(Lenient):
    parent_id: Name
    worker_ids: list[Name] = []


def _out(worker: Worker) -> dict[str, Any]:
    w = worker.workload
    duration = worker.duration_seconds
    out: dict[str, Any] = {
        "id": w.id,
        "name": w.name,
        "status": worker.status,
        "created_at": rfc3339(w.created_at),
        "running_at": rfc3339(w.started_at),
        "finished_at": rfc3339(w.finished_at),
        "duration": None if duration is None else round(duration, 3),
        "ip_address": worker.ip_address,
        "app_url": worker.app_url,
        "engineId": w.id,
        "cpu": w.resources.cpu,
        "memory": w.resources.memory_mb / 1024,
        "nvidia_gpu": w.resources.gpu,
    }
    if worker.status == "failed":
        out["message"] = w.reason
    return out


@router.post("/projects/{project_id}/workers")
def launch_workers(
    project_id: str, body: WorkersIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    fields = WorkerFields(
        count=body.n,
        cpu=body.cpu if body.cpu is not None else 1.0,
        memory_gb=body.memory if body.memory is not None else 1.0,
        gpu=body.nvidia_gpu or 0,
        script=body.script or "",
        code=body.code or "",
        env=body.env or {},
        name=body.name or "",
    )
    launched = workers.launch(platform, principal, project_id, body.parent_id, fields)
    return {"workers": [_out(w) for w in launched]}


@router.get("/projects/{project_id}/workers")
def list_workers(
    project_id: str, parent_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    found = workers.list_workers(platform, principal, project_id, parent_id)
    return {"workers": [_out(w) for w in found]}


@router.post("/projects/{project_id}/workers:stop")
def stop_workers(
    project_id: str, body: StopIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Stop the listed workers of ``parent_id`` (none listed: all of them)."""
    stopped = workers.stop(platform, principal, project_id, body.parent_id, body.worker_ids)
    return {"workers": [_out(w) for w in stopped]}

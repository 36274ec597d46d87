"""The environment contract every workload receives (CML compat §1.7 and §2).

Layering, lowest first: project < job < run override (each later one wins), then the
platform's identity variables, which no layer can override. Convenience defaults that a
project may override (``PIP_*``, later ``MLFLOW_*``) go in below the project layer.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind

_ENGINE_ALPHABET = string.ascii_lowercase + string.digits

ENGINE_TYPES = {
    WorkloadKind.JOB_RUN: "job",
    WorkloadKind.SESSION: "session",
    WorkloadKind.APPLICATION: "application",
    WorkloadKind.MODEL_REPLICA: "model",
    WorkloadKind.MODEL_BUILD: "model",
    WorkloadKind.WORKER: "worker",
}


def new_engine_id() -> str:
    """16 lowercase alphanumerics, usable as a DNS label (``<engine_id>.<domain>``)."""
    return "".join(secrets.choice(_ENGINE_ALPHABET) for _ in range(16))


def identity(
    settings: Settings,
    *,
    project: Project,
    user: User,
    engine_id: str,
    kind: WorkloadKind,
    resources: Resources,
    v1_key: str,
    v2_key: str,
) -> dict[str, str]:
    """The variables Lakeworks always sets, in CML's exact formats."""
    base = settings.base_url
    api_v1 = f"{base}/api/v1"
    owner = project.owner.username
    variables = {
        "CDSW_DOMAIN": settings.domain,
        "CDSW_API_URL": api_v1,
        "CDSW_PROJECT_URL": f"{api_v1}/projects/{owner}/{project.slug}",
        "CDSW_PROJECT": project.slug,
        "CDSW_PROJECT_ID": project.id,
        "CDSW_ENGINE_ID": engine_id,
        "CDSW_ENGINE_TYPE": ENGINE_TYPES[kind],
        "CDSW_API_KEY": v1_key,
        "CDSW_APIV2_KEY": v2_key,
        "CDSW_USER_API_KEY": v1_key,
        "CDSW_CPU_MILLICORES": str(int(resources.cpu * 1000)),
        "CDSW_MEMORY_MB": str(resources.memory_mb),
        "CDSW_IP_ADDRESS": "127.0.0.1",
        "HADOOP_USER_NAME": user.username,
        "HADOOP_USERNAME": user.username,
        "CDSW_CREATOR": user.username,
        "PROJECT_OWNER": owner,
    }
    gateway = local_gateway_url(settings)
    if gateway:
        variables["LAKEWORKS_MODEL_GATEWAY_URL"] = gateway
    return variables


def local_gateway_url(settings: Settings) -> str:
    """The model gateway on the workload's loopback, where ``cdsw.call_model`` goes straight
    (no name lookup, no TLS, no trip out to the public host and its proxy), or "" where the
    server is not there: a local workload reaches the server's port on its own 127.0.0.1
    (the isolated network forwards it), when the server listens on loopback or on every
    address."""
    if settings.executor != "local":
        return ""
    if settings.host not in ("127.0.0.1", "0.0.0.0", "localhost", "::"):
        return ""
    return f"http://127.0.0.1:{settings.port}/model"


def layered(
    defaults: Mapping[str, str],
    *layers: Mapping[str, object],
    identity_vars: Mapping[str, str],
) -> dict[str, str]:
    """Merge layers (later wins), stringifying values Python-style, identity last."""
    env: dict[str, str] = dict(defaults)
    for layer in layers:
        for name, value in layer.items():
            env[str(name)] = "" if value is None else str(value)
    env.update(identity_vars)
    return env

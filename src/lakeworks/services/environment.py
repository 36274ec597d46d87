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
    return {
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


def pip_env(settings: Settings) -> dict[str, str]:
    """The site's package mirror for pip in workloads (compat §14): an index, a wheelhouse
    (alone when no index is set, so offline installs never wait on PyPI), and short network
    timeouts so an unreachable index fails fast. Below the user layers: a project may
    override any of them."""
    env = {"PIP_TIMEOUT": "10", "PIP_RETRIES": "1"}
    if settings.pip_index_url:
        env["PIP_INDEX_URL"] = settings.pip_index_url
    if settings.pip_extra_index_url:
        env["PIP_EXTRA_INDEX_URL"] = settings.pip_extra_index_url
    if settings.pip_trusted_host:
        env["PIP_TRUSTED_HOST"] = settings.pip_trusted_host
    if settings.pip_find_links is not None:
        env["PIP_FIND_LINKS"] = str(settings.pip_find_links)
        if not settings.pip_index_url:
            env["PIP_NO_INDEX"] = "1"
    return env


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

"""Models, their builds and deployments (DESIGN §6, CML compat §4, §5, §7).

A model is a named endpoint of a project, selected by its access key. A build is an immutable
snapshot of the project files plus a built environment; a deployment runs N replicas of one
build. Models, builds and deployments have UUID ids; their CRNs end with that id (compat §4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# One install is one CML "workspace": the CRN parts are fixed (compat §4, "e.g. local").
CRN_REGION = "local"
CRN_ACCOUNT = "00000000-0000-0000-0000-000000000000"
CRN_WORKSPACE = "00000000-0000-0000-0000-000000000001"
CRN_PREFIX = f"crn:cdp:ml:{CRN_REGION}:{CRN_ACCOUNT}:workspace:{CRN_WORKSPACE}/"


# The host label models answer on (``modelservice.<domain>/model``), as in CML.
MODEL_SERVICE_HOST = "modelservice"


def crn(object_id: str) -> str:
    """The CRN of a model, build or deployment whose API v2 id is ``object_id``.

    >>> crn("8d3a0c1e-0000-4000-8000-000000000000").rsplit("/", 1)[1]
    '8d3a0c1e-0000-4000-8000-000000000000'
    """
    return CRN_PREFIX + object_id


def crn_id(value: str) -> str:
    """The trailing object id of a CRN (or the value itself when it is already an id)."""
    return value.rsplit("/", 1)[-1]


class BuildStatus(enum.StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    BUILT = "built"
    FAILED = "build failed"
    STOPPED = "stopped"  # the build workload was stopped before it finished

    @property
    def is_final(self) -> bool:
        return self in (BuildStatus.BUILT, BuildStatus.FAILED, BuildStatus.STOPPED)


class DeploymentStatus(enum.StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self in (
            DeploymentStatus.PENDING,
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.DEPLOYED,
        )


BUILD_TRANSITIONS: dict[BuildStatus, frozenset[BuildStatus]] = {
    BuildStatus.PENDING: frozenset({BuildStatus.BUILDING, BuildStatus.FAILED, BuildStatus.STOPPED}),
    BuildStatus.BUILDING: frozenset({BuildStatus.BUILT, BuildStatus.FAILED, BuildStatus.STOPPED}),
}

DEPLOYMENT_TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.PENDING: frozenset(
        {
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.STOPPING,
            DeploymentStatus.STOPPED,
            DeploymentStatus.FAILED,
        }
    ),
    DeploymentStatus.DEPLOYING: frozenset(
        {DeploymentStatus.DEPLOYED, DeploymentStatus.STOPPING, DeploymentStatus.FAILED}
    ),
    DeploymentStatus.DEPLOYED: frozenset({DeploymentStatus.STOPPING, DeploymentStatus.FAILED}),
    DeploymentStatus.STOPPING: frozenset({DeploymentStatus.STOPPED}),
    # A stopped or failed deployment starts again (restart).
    DeploymentStatus.STOPPED: frozenset({DeploymentStatus.PENDING}),
    DeploymentStatus.FAILED: frozenset({DeploymentStatus.PENDING}),
}


@dataclass(frozen=True)
class Model:
    id: str
    project_id: str
    name: str
    description: str
    auth_enabled: bool
    access_key_hash: str  # sha256 of the key: what the gateway looks keys up by
    access_key_sealed: str  # the key sealed with the server secret, for the sample code
    creator_id: int
    registered_model_id: str
    default_cpu: float
    default_memory_mb: int
    default_replicas: int
    created_at: datetime
    updated_at: datetime
    creator_username: str = ""

    @property
    def crn(self) -> str:
        return crn(self.id)


@dataclass(frozen=True)
class ModelBuild:
    id: str
    model_id: str
    project_id: str
    creator_id: int
    comment: str
    file_path: str  # project-relative; "" for registry builds
    function_name: str
    runtime_identifier: str
    registered_model_version_id: str
    build_script_path: str
    status: BuildStatus
    examples: list[dict[str, Any]] = field(default_factory=list)
    workload_id: str | None = None
    env_hash: str = ""
    auto_deploy: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why it failed or stopped (the exit and the log's last line)
    built_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    creator_username: str = ""

    @property
    def crn(self) -> str:
        return crn(self.id)

    @property
    def from_registry(self) -> bool:
        return bool(self.registered_model_version_id)


@dataclass(frozen=True)
class ModelDeployment:
    id: str
    model_id: str
    build_id: str
    project_id: str
    deployer_id: int
    cpu: float
    memory_mb: int
    replicas: int
    environment: dict[str, str]
    status: DeploymentStatus
    timeout_seconds: float = 0.0  # 0: the install default
    generation: int = 0  # a restart bumps it; replicas of older generations are replaced
    reason: str = ""  # why it failed: its queued build failed, or its replicas never started
    deployer_username: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def crn(self) -> str:
        return crn(self.id)


@dataclass(frozen=True)
class Replica:
    """One replica slot of a deployment and the workload filling it now."""

    workload_id: str
    deployment_id: str
    slot: int
    generation: int
    ready: bool
    retired: bool
    restarts: int
    created_at: datetime | None = None

"""The registry bridge: MLflow registered models and versions as Lakeworks sees them.

Identifiers in API v2 (CML compat §6.7):

- a registered model's ``model_id`` is a Lakeworks id (``xxxx-xxxx-xxxx-xxxx``) kept in the
  MLflow registered model's tag ``lakeworks.model_id``; MLflow itself keys models by name;
- a **registry version id** (``model_version_id``, the ``registered_model_version_id`` of a
  model build) is a Lakeworks id of the same format kept in the MLflow model version's tag
  ``lakeworks.version_id``. Lakeworks sets both tags whenever a model or version is created,
  through API v2 or through MLflow's own REST API (``log_model(registered_model_name=...)``).

``resolve_version`` turns a version id into the model directory on the server's disk, for the
models part (builds from registry versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeworks.errors import NotFound
from lakeworks.tracking.access import authorize
from lakeworks.tracking.embedded import Tracking, tracking_for
from lakeworks.tracking.paths import server_path
from lakeworks.tracking.scope import VERSION_ID_TAG

if TYPE_CHECKING:
    from lakeworks.config import Settings
    from lakeworks.services.platform import Platform, Principal

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class ModelVersionSource:
    """Where a registry version's model lives."""

    project_id: str
    model_name: str
    version: str
    run_id: str | None
    artifact_dir: Path  # the model directory on the server's disk, containing ``MLmodel``


def find_version(tracking: Tracking, version_id: str) -> Any:
    """The MLflow ``ModelVersion`` with this Lakeworks version id; ``NotFound`` otherwise."""
    if not _ID_RE.match(version_id or ""):
        raise NotFound(f"Model version {version_id!r} not found.")
    found = tracking.registry.search_model_versions(
        filter_string=f"tags.`{VERSION_ID_TAG}` = '{version_id}'", max_results=2
    )
    if not found:
        raise NotFound(f"Model version {version_id!r} not found.")
    return found[0]


def version_source_dir(
    settings: Settings, tracking: Tracking, project_id: str, version: Any
) -> Path:
    """The directory on the server's disk that a model version's ``source`` names."""
    source = str(version.source)
    if source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
        run = tracking.store.get_run(run_id)
        return server_path(settings, project_id, run.info.artifact_uri, path)
    return server_path(settings, project_id, source)


def resolve_version(
    platform: Platform, principal: Principal, version_id: str
) -> ModelVersionSource:
    """The model of registry version ``version_id``, if ``principal`` may read its project.

    Raises ``NotFound`` (unknown id, a project the caller cannot read, or files missing on
    disk) or ``PermissionDenied``.
    """
    tracking = tracking_for(platform)
    version = find_version(tracking, version_id)
    project_id = tracking.scope.model_project(version.name)
    authorize(platform, principal, project_id, write=False, what=f"Model version {version_id!r}")
    directory = version_source_dir(platform.settings, tracking, project_id, version)
    if not (directory / "MLmodel").is_file():
        raise NotFound(
            f"Model version {version_id!r} ({version.name} v{version.version}) has no MLmodel "
            f"file at {version.source}; were the run's artifacts deleted?"
        )
    return ModelVersionSource(
        project_id=project_id,
        model_name=str(version.name),
        version=str(version.version),
        run_id=version.run_id or None,
        artifact_dir=directory,
    )

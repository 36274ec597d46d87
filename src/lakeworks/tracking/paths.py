"""Artifact paths: as workloads see them (``/home/cdsw/.experiments/...``) and on the server.

MLflow clients inside workloads write artifacts straight to the run's ``artifact_uri``, a path
in the project mounted at ``/home/cdsw`` (CML compat §9). The server reads the same files from
``<projects_dir>/<project_id>/...``. Without bubblewrap the local executor runs workloads in
the real project directory, where ``/home/cdsw`` is not the project: there the workload site's
``sitecustomize`` points MLflow's local artifact store at the project
(``LAKEWORKS_PROJECT_HOME``), so artifacts land in the same place in every mode.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lakeworks.config import Settings
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.tracking.backend import WORKLOAD_HOME


def workload_path(uri: str) -> str:
    """``file:///home/cdsw/x`` or ``/home/cdsw/x`` → ``/home/cdsw/x`` (normalised)."""
    if uri.startswith("file:"):
        uri = unquote(urlsplit(uri).path)
    if not uri.startswith("/"):
        raise InvalidInput(f"Artifact location {uri!r} is not a path in the project.")
    return posixpath.normpath(uri)


def server_path(settings: Settings, project_id: str, uri: str, relative: str = "") -> Path:
    """The file on the server's disk for ``uri`` (plus ``relative``) in ``project_id``.

    Raises ``InvalidInput`` for paths outside ``uri`` or the project (``..``, absolute
    sub-paths, links pointing elsewhere), so an artifact request never reads beyond them.
    """
    if relative and (relative.startswith("/") or "\\" in relative):
        raise InvalidInput(f"Artifact path {relative!r} must be relative.")
    base = workload_path(uri)
    path = base
    if relative:
        path = posixpath.normpath(posixpath.join(base, relative))
        if path != base and not path.startswith(base.rstrip("/") + "/"):
            # Artifact paths stay under their run's (or model's) own folder.
            raise InvalidInput(f"Artifact path {relative!r} leaves {base}.")
    if path != WORKLOAD_HOME and not path.startswith(WORKLOAD_HOME + "/"):
        raise InvalidInput(f"Artifact path {path!r} is outside the project.")
    if not project_id:
        raise NotFound("This object belongs to no project, so it has no artifacts.")
    root = (settings.projects_dir / project_id).resolve()
    target = (root / path[len(WORKLOAD_HOME) :].lstrip("/")).resolve()
    if target != root and not target.is_relative_to(root):
        raise InvalidInput(f"Artifact path {relative or uri!r} is outside the project.")
    return target

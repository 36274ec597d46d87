"""Where a project's Iceberg tables live: ``<data>/warehouse/<project id>/``, owned by the
project's workload uid, mounted into the project's workloads at the same path (see
``data/iceberg.py``). Kept apart from the catalog so starting a workload imports no pyiceberg.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lakeworks import safe_paths
from lakeworks.config import Settings
from lakeworks.executors import sandbox
from lakeworks.safe_paths import UnsafePath

WAREHOUSE_DIR = "warehouse"


def warehouse_root(settings: Settings) -> Path:
    return settings.data_dir / WAREHOUSE_DIR


def warehouse_dir(settings: Settings, project_id: str) -> Path:
    """Where the project's tables live (exists once ``ensure_warehouse`` ran)."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", project_id):
        raise UnsafePath(f"{project_id!r} is not a project id.")
    return warehouse_root(settings) / project_id


def warehouse_owner(settings: Settings, project_id: str) -> tuple[int, int] | None:
    """(uid, gid) the project's warehouse belongs to, when the server gives files away (it
    runs as root and workloads run sandboxed as their project's uid); else None."""
    if os.geteuid() != 0 or settings.sandbox != "bwrap":
        return None
    identity = sandbox.identity_for(str(settings.projects_dir / project_id))
    return identity.uid, identity.gid


def ensure_warehouse(settings: Settings, project_id: str) -> Path:
    """Create the project's warehouse folder (and the folder of all warehouses) if missing,
    owned by the project's workload user. Idempotent; never follows a link."""
    root = warehouse_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    path = warehouse_dir(settings, project_id)
    with safe_paths.open_dir(root, project_id, create=True) as fd:
        owner = warehouse_owner(settings, project_id)
        if owner is not None:
            here = os.fstat(fd)
            if (here.st_uid, here.st_gid) != owner:
                os.fchown(fd, *owner)
    return path


def remove_warehouse(settings: Settings, project_id: str) -> None:
    """Delete the project's warehouse (the project is being deleted); links inside are
    removed, never followed."""
    root = warehouse_root(settings)
    if (root / project_id).exists() or (root / project_id).is_symlink():
        safe_paths.remove(root, project_id)

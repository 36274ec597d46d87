"""The one permission rule for experiments, runs and registered models.

Reading needs read access to the owning project (viewer or above); writing (creating
experiments and runs, logging, registering models) needs contributor or above, as writing files
does, since runs write artifacts into the project. An object of a project the caller cannot read
is reported as not found, so ids of private projects do not leak. Objects belonging to no
project (MLflow's ``Default`` experiment) are readable by site administrators only and writable
by nobody.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeworks.errors import NotFound, PermissionDenied
from lakeworks.services.access_cache import AccessCache

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform, Principal


def authorize(
    platform: Platform,
    principal: Principal,
    project_id: str,
    *,
    write: bool,
    what: str,
    cache: AccessCache | None = None,
) -> None:
    """Raise ``NotFound``/``PermissionDenied`` unless ``principal`` may read (or write)."""
    key = ("allowed", *principal_key(principal), project_id, write)
    if cache is not None and cache.get(key):
        return
    epoch = platform.access_epoch
    _authorize(platform, principal, project_id, write=write, what=what)
    if cache is not None:
        cache.put(key, True, epoch)


def principal_key(principal: Principal) -> tuple[object, ...]:
    """What an allowed answer depends on in a principal: its user and how far its key reaches."""
    return (principal.user.id, principal.via, principal.project_scope, principal.user_wide)


def _authorize(
    platform: Platform, principal: Principal, project_id: str, *, write: bool, what: str
) -> None:
    from lakeworks.services.permissions import Action, require

    if not project_id:
        if principal.is_admin and not write:
            return
        if principal.is_admin:
            raise PermissionDenied(
                f"{what} belongs to no project; create experiments with "
                "mlflow.set_experiment(name) so they land in a project."
            )
        raise NotFound(f"{what} not found.")
    with platform.read() as uow:
        try:
            require(uow, principal, project_id, Action.WRITE_FILES if write else Action.READ)
        except NotFound:
            raise NotFound(f"{what} not found.") from None


def readable_projects(platform: Platform, principal: Principal, project_ids: set[str]) -> set[str]:
    """The subset of ``project_ids`` the principal may read (one query per distinct project)."""
    from lakeworks.services.permissions import Action, effective_role, role_allows

    allowed: set[str] = set()
    with platform.read() as uow:
        for project_id in project_ids:
            if not project_id:
                if principal.is_admin:
                    allowed.add(project_id)
                continue
            project = uow.projects.get(project_id)
            if project is not None and role_allows(
                effective_role(uow, principal, project), Action.READ
            ):
                allowed.add(project_id)
    return allowed

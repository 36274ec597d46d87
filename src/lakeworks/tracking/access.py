"""The one permission rule for experiments, runs and registered models.

Reading needs read access to the owning project (viewer or above); writing (creating
experiments and runs, logging, registering models) needs contributor or above, as writing files
does, since runs write artifacts into the project. An object of a project the caller cannot read
is reported as not found, so ids of private projects do not leak. Objects belonging to no
project (MLflow's ``Default`` experiment) are readable by site administrators only and writable
by nobody.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from lakeworks.errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform, Principal


_CACHE_LIMIT = 10_000


class AccessCache:
    """Recent answers, so a training loop's thousands of ``log_metric`` calls do not each
    look the key and the membership up again.

    Holds identities by key hash and *allowed* checks only (a refusal is always checked
    afresh, so its message names what was asked for). Entries live
    ``tracking_auth_cache_seconds`` and all go when ``platform.access_epoch`` moves (a key
    revoked, a member removed... through this process).
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], tuple[float, object]] = {}
        self._epoch = platform.access_epoch

    def get(self, key: tuple[object, ...]) -> object | None:
        if self.platform.settings.tracking_auth_cache_seconds <= 0:
            return None
        with self._lock:
            if self._epoch != self.platform.access_epoch:
                self._entries.clear()
                self._epoch = self.platform.access_epoch
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[object, ...], value: object, epoch: int) -> None:
        """Keep ``value``, unless access changed since ``epoch`` (read before computing it)."""
        seconds = self.platform.settings.tracking_auth_cache_seconds
        if seconds <= 0:
            return
        with self._lock:
            if epoch != self.platform.access_epoch or self._epoch != epoch:
                return
            if len(self._entries) >= _CACHE_LIMIT:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + seconds, value)


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
    key = (
        "allowed",
        principal.user.id,
        principal.via,
        principal.project_scope,
        project_id,
        write,
    )
    if cache is not None and cache.get(key):
        return
    epoch = platform.access_epoch
    _authorize(platform, principal, project_id, write=write, what=what)
    if cache is not None:
        cache.put(key, True, epoch)


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

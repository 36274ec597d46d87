"""Runtimes as site administrators manage them: every runtime's state, building one ahead of
time, following a build's log, removing one nobody uses. Listing the catalog
(``GET /api/v2/runtimes``) is open to every signed-in user."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakeworks.errors import PermissionDenied
from lakeworks.runtimes.manager import RuntimeState
from lakeworks.services.platform import Platform, Principal

# The most of a build log a page or API call returns at once.
LOG_CHUNK = 256 * 1024


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("Only site administrators manage runtimes.")


def catalog_rows(
    platform: Platform, search_filter: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The ``GET /api/v2/runtimes`` rows (CML's shape) matching ``search_filter``."""
    return [r.api_fields() for r in platform.runtimes.catalog.search(search_filter)]


def states(platform: Platform, principal: Principal) -> list[RuntimeState]:
    _require_admin(principal)
    return platform.runtimes.states()


def stale(platform: Platform, principal: Principal) -> list[Path]:
    _require_admin(principal)
    return platform.runtimes.stale()


def build(platform: Platform, principal: Principal, key: str) -> RuntimeState:
    """Start building runtime ``key`` (``"3.11"``, ``"3.11-lean"``) in the background (nothing
    if built or building)."""
    with platform.command(principal, "runtime.build", target=key) as cmd:
        _require_admin(principal)
        started = platform.runtimes.build_in_background(key)
        cmd.detail = {"started": started}
    return platform.runtimes.state(key)


def build_log(
    platform: Platform, principal: Principal, key: str, offset: int = 0
) -> tuple[str, int, RuntimeState]:
    """The build log of runtime ``key`` from byte ``offset``: (text, next offset, state).

    Any signed-in user may follow it: people whose workloads wait for a build watch it from the
    run, session, app and build pages. It holds the build tools' output only.
    """
    state = platform.runtimes.state(key)
    try:
        with state.log_path.open("rb") as handle:
            handle.seek(max(offset, 0))
            data = handle.read(LOG_CHUNK)
    except FileNotFoundError:
        return "", max(offset, 0), state
    return data.decode("utf-8", "replace"), max(offset, 0) + len(data), state


def remove(platform: Platform, principal: Principal, name: str) -> None:
    """Delete a built runtime that no running process uses."""
    with platform.command(principal, "runtime.remove", target=name) as cmd:
        _require_admin(principal)
        platform.runtimes.remove(name)
        cmd.detail = {"name": name}

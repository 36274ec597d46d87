"""Who may open an application or an engine port through the proxy, and where it is.

The proxy asks on every request, so answers are cached briefly in ``ProxyRoutes``, owned by
``Platform.proxy_routes``: the route of a subdomain or engine port, and positive access
decisions (refusals always re-check). Any change to applications forgets them at once; other
processes notice within ``proxy_route_cache_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lakeworks.entities.applications import AppStatus, Route
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import NotFound, Unauthenticated
from lakeworks.services.access_cache import AccessCache
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

# Which project role may open each port of a session's or job's engine (CML: the app port
# is for contributors, the read-only port for anyone who can read the project).
ENGINE_PORT_ACTIONS = {
    "CDSW_APP_PORT": Action.WRITE_FILES,
    "CDSW_READONLY_PORT": Action.READ,
    "CDSW_PUBLIC_PORT": Action.READ,
}
_MAX_ROUTES = 10_000


class ProxyRoutes:
    """One platform's cached routes and access decisions (see the module's docstring)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[float, Route | None]] = {}
        self.decisions = AccessCache(platform, lambda s: s.proxy_route_cache_seconds)

    def forget(self) -> None:
        """Drop cached routes and access decisions (after any change to applications)."""
        with self._lock:
            self._routes.clear()
        self.decisions.clear()

    def route(self, key: str, load: Callable[[], Route | None]) -> Route | None:
        ttl = self.platform.settings.proxy_route_cache_seconds
        now = time.monotonic()
        with self._lock:
            hit = self._routes.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        route = load()
        if ttl > 0:
            with self._lock:
                if len(self._routes) > _MAX_ROUTES:
                    self._routes.clear()
                self._routes[key] = (now, route)
        return route

    def fresh(self, key: str) -> Route | None:
        """The cached route for ``key`` while it is fresh and names an app or engine."""
        ttl = self.platform.settings.proxy_route_cache_seconds
        with self._lock:
            hit = self._routes.get(key)
        if hit is None or hit[1] is None or time.monotonic() - hit[0] >= ttl:
            return None
        return hit[1]


def _allowed(platform: Platform, principal: Principal, project_id: str, action: Action) -> None:
    """``require`` with a short-lived cache of positive decisions (refusals re-check)."""
    cache = platform.proxy_routes.decisions
    key = _decision_key(principal, project_id, action)
    if cache.get(key):
        return
    epoch = platform.access_epoch
    with platform.read() as uow:
        require(uow, principal, project_id, action)
    cache.put(key, True, epoch)


def _decision_key(principal: Principal, project_id: str, action: Action) -> tuple[object, ...]:
    return (
        principal.user.id,
        principal.project_scope,
        principal.user_wide,
        principal.is_admin,
        project_id,
        action,
    )


def authorize_access(platform: Platform, principal: Principal | None, subdomain: str) -> Route:
    """The route to the application at ``subdomain`` if ``principal`` may open it.

    Raises ``NotFound`` (no such app), ``Unauthenticated`` (nobody signed in and the app is
    not public), ``NotFound``/``PermissionDenied`` from ``require`` (not a project member).
    A route with an empty ``target`` means the app is not running.
    """

    def load() -> Route | None:
        with platform.read() as uow:
            app = uow.applications.by_subdomain(subdomain)
        if app is None:
            return None
        return Route(
            project_id=app.project_id,
            target=app.target if app.status is AppStatus.RUNNING else "",
            public=app.bypass_authentication and platform.settings.allow_unauthenticated_apps,
            label=subdomain,
            application_id=app.id,
        )

    route = platform.proxy_routes.route(f"app:{subdomain}", load)
    if route is None:
        raise NotFound(f"No application uses the subdomain {subdomain!r}.")
    if route.public:
        return route
    if principal is None:
        raise Unauthenticated("Sign in to open this application.")
    _allowed(platform, principal, route.project_id, Action.READ)
    return route


def authorize_engine(
    platform: Platform, principal: Principal | None, engine_id: str, port_name: str
) -> Route:
    """The route to ``port_name`` of the running workload ``engine_id`` (a session, a job
    run...), if ``principal`` may open it; an empty target when that port is not open."""

    def load() -> Route | None:
        with platform.read() as uow:
            workload = uow.workloads.get(engine_id)
        if workload is None or workload.status is not WorkloadStatus.RUNNING:
            return None
        ports = dict(
            zip(
                workload.handle.get("port_names") or [],
                workload.handle.get("ports") or [],
                strict=False,
            )
        )
        port = ports.get(port_name)
        return Route(
            project_id=workload.project_id,
            target=f"127.0.0.1:{port}" if port else "",
            public=False,
            label=engine_id,
        )

    route = platform.proxy_routes.route(f"engine:{engine_id}:{port_name}", load)
    if route is None:
        raise NotFound(f"No running engine {engine_id!r}.")
    if principal is None:
        raise Unauthenticated("Sign in to open this engine's web UI.")
    _allowed(platform, principal, route.project_id, ENGINE_PORT_ACTIONS[port_name])
    return route


def peek_access(
    platform: Platform,
    principal: Principal | None,
    *,
    subdomain: str | None = None,
    engine: tuple[str, str] | None = None,
) -> Route | None:
    """The route if a fresh cached route *and* cached positive decision allow it; else None
    (then call ``authorize_access``/``authorize_engine``, which read the database). Never
    touches the database, so the proxy may call it on its event loop."""
    key = f"engine:{engine[0]}:{engine[1]}" if engine else f"app:{subdomain}"
    route = platform.proxy_routes.fresh(key)
    if route is None:
        return None
    if route.public and engine is None:
        return route
    if principal is None:
        return None
    action = ENGINE_PORT_ACTIONS[engine[1]] if engine else Action.READ
    decision = _decision_key(principal, route.project_id, action)
    return route if platform.proxy_routes.decisions.get(decision) else None

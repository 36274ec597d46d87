"""Routing by host and by path to applications and workload ports, after authentication.

``ProxyRouter`` is an ASGI middleware placed *inside* the session middleware (so the browser
session is decoded) and outside the routers. For a request to ``<label>.<domain>``
(``domain`` = ``settings.domain``, port included; compat §13):

- ``modelservice``: passed to the main app untouched (the model gateway serves it);
- ``<engine_id>`` (16 lowercase alphanumerics): that running workload's ``CDSW_APP_PORT``;
  ``read-only-<engine_id>`` → ``CDSW_READONLY_PORT``; ``public-<engine_id>`` →
  ``CDSW_PUBLIC_PORT``;
- anything else: the application with that subdomain.

On the main host, ``/apps/<subdomain>/…`` reaches the same application with the prefix
stripped and ``X-Forwarded-Prefix: /apps/<subdomain>`` (the degraded path form for installs
without wildcard DNS; only with ``settings.app_path_routing``, and its pages sandboxed to an
opaque origin by ``api.headers``). Every other request goes to the main app.

Who may pass is decided by ``services.applications`` (``authorize_access``,
``authorize_engine``); this module only finds the caller: ``Authorization: Bearer <key>`` (the
header is then not passed on), else the session cookie.

Sessions on subdomains: a host-only cookie set for ``demo.<domain>`` is not sent to
``<domain>`` and vice versa, and browsers refuse a cookie for ``localhost`` or an IP shared
with subdomains. So an unauthenticated browser at ``demo.<domain>`` is sent to
``<domain>/_lakeworks/authorize?next=<url>``, which (after the login page if needed) issues a
one-minute signed token for exactly that host and redirects to
``demo.<domain>/_lakeworks/session?token=…``, which signs that host's session in and goes on
to the page. That app-host session shares the user's session generation (ended with it) and
is bound to its host (``web.auth.session_principal``), so it is no sign-in on the main host.
With ``session_cookie_domain`` set to a real domain the cookie is shared and the hop is not
needed.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import anyio
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from lakeworks.entities.applications import Route
from lakeworks.errors import LakeworksError, Unauthenticated, error_body, http_status
from lakeworks.proxy import pages
from lakeworks.proxy.forward import forward
from lakeworks.services import app_access
from lakeworks.services.access_cache import AccessCache
from lakeworks.services.environment import ENGINE_ID_RE
from lakeworks.services.platform import Platform, Principal
from lakeworks.web.auth import principal_from_request

log = logging.getLogger("lakeworks.proxy")

APPS_PREFIX = "/apps/"
AUTHORIZE_PATH = "/_lakeworks/authorize"
SESSION_PATH = "/_lakeworks/session"
HANDOFF_SECONDS = 60
MODEL_SERVICE = "modelservice"
ENGINE_PORTS = {
    "": "CDSW_APP_PORT",
    "read-only-": "CDSW_READONLY_PORT",
    "public-": "CDSW_PUBLIC_PORT",
}


def host_label(host: str, domain: str) -> str | None:
    """``demo`` for ``demo.<domain>``; None for the main host or any other host."""
    host = host.strip().lower().rstrip(".")
    suffix = "." + domain.lower()
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return label if label and "." not in label else None


def engine_target(label: str) -> tuple[str, str] | None:
    """(engine id, port name) when the label addresses a workload's port."""
    for prefix, port_name in ENGINE_PORTS.items():
        if prefix and not label.startswith(prefix):
            continue
        engine_id = label.removeprefix(prefix)
        if ENGINE_ID_RE.match(engine_id):
            return engine_id, port_name
    return None


class ProxyRouter:
    """Sends application and engine traffic to ``forward``; the rest to ``app``."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.signer = URLSafeTimedSerializer(
            platform.settings.secret_key, salt="lakeworks-proxy-handoff"
        )
        # Callers by credential, briefly (see services.access_cache).
        self._identities = AccessCache(platform, lambda s: s.proxy_route_cache_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, "host")
        label = host_label(host, self.platform.settings.domain)
        path: str = scope["path"]
        if label is not None and label != MODEL_SERVICE:
            if path == SESSION_PATH and scope["type"] == "http":
                await self._accept_handoff(scope, receive, send, host)
                return
            await self._proxy(scope, receive, send, label, path, prefix=None)
            return
        if (
            label is None
            and path.startswith(APPS_PREFIX)
            and self.platform.settings.app_path_routing
        ):
            subdomain, _, rest = path[len(APPS_PREFIX) :].partition("/")
            if subdomain and not rest and not path.endswith("/") and scope["type"] == "http":
                await _redirect(scope, send, path + "/" + _query(scope))
                return
            if subdomain:
                await self._proxy(
                    scope, receive, send, subdomain, "/" + rest, prefix=APPS_PREFIX + subdomain
                )
                return
        if label is None and path == AUTHORIZE_PATH and scope["type"] == "http":
            await self._issue_handoff(scope, receive, send)
            return
        await self.app(scope, receive, send)

    # --- proxying --------------------------------------------------------------------------

    async def _proxy(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        label: str,
        path: str,
        *,
        prefix: str | None,
    ) -> None:
        # Credentials are read from headers and the session only, so a websocket's connection
        # serves as well as a request.
        request = cast(Request, HTTPConnection(scope))
        engine = engine_target(label) if prefix is None else None

        def decide() -> tuple[Route, Principal | None]:
            principal = self._principal(request)
            if engine is not None:
                route = app_access.authorize_engine(self.platform, principal, *engine)
            else:
                route = app_access.authorize_access(self.platform, principal, label)
            return route, principal

        try:
            found = self._peek(request, label, engine)
            if found is None:
                found = await anyio.to_thread.run_sync(decide)
            route, principal = found
        except Unauthenticated as exc:
            if _is_browser(scope):
                await _redirect(scope, send, self._login_url(scope, prefix))
            else:
                await _refuse(scope, send, exc)
            return
        except LakeworksError as exc:
            await _refuse(scope, send, exc)
            return
        if not route.target:
            await _not_running(scope, send, label)
            return
        headers = {"X-Forwarded-User": principal.user.username} if principal else {}
        bearer = _header(scope, "authorization").lower().startswith(("bearer ", "basic "))
        await forward(
            scope,
            receive,
            send,
            target=route.target,
            path=path,
            headers=headers,
            prefix=prefix,
            max_message_bytes=self.platform.settings.proxy_max_ws_message_bytes,
            # A Lakeworks API key authenticated this request: the app must not see it.
            drop_headers=("authorization",) if bearer else (),
        )

    def _credential(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if header:
            return ("authorization", header)
        session = request.session if "session" in request.scope else {}
        user_id = session.get("user_id")
        # The generation is part of it: a cookie from before a logout is another credential.
        return ("session", f"{user_id}/{session.get('gen')}") if user_id is not None else None

    def _principal(self, request: Request) -> Principal | None:
        """The caller (database read); remembered briefly so busy apps need no read per
        request. A key revoked or a user deactivated through this server is refused at once
        (``Platform.access_epoch``); through another server process, within the cache time."""
        epoch = self.platform.access_epoch
        principal = principal_from_request(request, self.platform)
        credential = self._credential(request)
        if principal is not None and credential is not None:
            self._identities.put(credential, principal, epoch)
        return principal

    def _peek(
        self, request: Request, label: str, engine: tuple[str, str] | None
    ) -> tuple[Route, Principal | None] | None:
        """Route and caller from the caches only (no database, no thread), or None."""
        credential = self._credential(request)
        principal: Principal | None = None
        if credential is not None:
            known = self._identities.get(credential)
            if not isinstance(known, Principal):
                return None
            principal = known
        route = app_access.peek_access(
            self.platform,
            principal,
            subdomain=None if engine else label,
            engine=engine,
        )
        return (route, principal) if route is not None else None

    def _login_url(self, scope: Scope, prefix: str | None) -> str:
        here = scope["path"] + _query(scope)
        if prefix is not None:  # the path form lives on the main host
            return "/login?" + urlencode({"next": here})
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", ""), scope["scheme"])
        full = f"{scheme}://{_header(scope, 'host')}{here}"
        base = self.platform.settings.base_url
        return f"{base}{AUTHORIZE_PATH}?" + urlencode({"next": full})

    # --- the sign-in hop for subdomains ----------------------------------------------------

    async def _issue_handoff(self, scope: Scope, receive: Receive, send: Send) -> None:
        """On the main host: the signed-in user gets a one-minute token for the app host."""
        request = Request(scope)
        target = parse_qs(scope.get("query_string", b"").decode()).get("next", [""])[0]
        parts = urlsplit(target)
        label = host_label(parts.netloc, self.platform.settings.domain)
        if parts.scheme not in ("http", "https") or label is None or label == MODEL_SERVICE:
            await _refuse(scope, send, Unauthenticated("That is not an address of this site."))
            return
        principal = await anyio.to_thread.run_sync(
            lambda: principal_from_request(request, self.platform)
        )
        if principal is None:
            here = AUTHORIZE_PATH + "?" + urlencode({"next": target})
            await _redirect(scope, send, "/login?next=" + quote(here, safe=""))
            return
        token = self.signer.dumps(
            {
                "u": principal.user.id,
                "g": principal.user.session_generation,
                "h": parts.netloc.lower(),
            }
        )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        query = urlencode({"token": token, "next": path})
        await _redirect(scope, send, f"{parts.scheme}://{parts.netloc}{SESSION_PATH}?{query}")

    async def _accept_handoff(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        """On the app host: the token signs this host's session in."""
        query = parse_qs(scope.get("query_string", b"").decode())
        token = query.get("token", [""])[0]
        next_path = query.get("next", ["/"])[0]
        try:
            data: dict[str, Any] = self.signer.loads(token, max_age=HANDOFF_SECONDS)
        except BadSignature:
            await _refuse(
                scope, send, Unauthenticated("The sign-in link is invalid or expired; reload.")
            )
            return
        if data.get("h") != host.lower():
            await _refuse(scope, send, Unauthenticated("That sign-in link is for another host."))
            return
        session = scope.get("session")
        if session is not None:
            session.clear()
            # Same generation as the main host's session: ended with it. Bound to this host,
            # so this cookie (were it ever taken from the app host) is not a sign-in on the
            # main host.
            session.update({"user_id": int(data["u"]), "gen": data.get("g"), "host": host.lower()})
        if not next_path.startswith("/") or next_path.startswith("//"):
            next_path = "/"
        await _redirect(scope, send, next_path)


# --- small ASGI responses ------------------------------------------------------------------


def _header(scope: Scope, name: str) -> str:
    key = name.encode()
    for k, v in scope.get("headers", []):
        if k == key:
            return str(v.decode("latin-1"))
    return ""


def _query(scope: Scope) -> str:
    raw = scope.get("query_string", b"")
    return "?" + raw.decode("latin-1") if raw else ""


def _is_browser(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope.get("method") == "GET"
        and "text/html" in _header(scope, "accept")
    )


async def _respond(
    scope: Scope, send: Send, status: int, body: bytes, content_type: str, **extra: str
) -> None:
    if scope["type"] == "websocket":
        # Refused before the handshake completes: the client sees an HTTP 403.
        await send({"type": "websocket.close", "code": 1008, "reason": body.decode()[:100]})
        return
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(scope: Scope, send: Send, location: str) -> None:
    await _respond(scope, send, 303, b"", "text/plain", location=location)


async def _refuse(scope: Scope, send: Send, exc: LakeworksError) -> None:
    status = http_status(exc)
    if scope["type"] == "websocket":
        await _respond(scope, send, status, exc.message.encode(), "text/plain")
    elif "text/html" in _header(scope, "accept"):
        await _respond(scope, send, status, _page(status, exc.message), "text/html; charset=utf-8")
    else:
        await _respond(
            scope, send, status, json.dumps(error_body(exc)).encode(), "application/json"
        )


async def _not_running(scope: Scope, send: Send, label: str) -> None:
    message = f"{label!r} is not running right now. Start it from its project, then reload."
    if "text/html" in _header(scope, "accept"):
        await _respond(scope, send, 503, _page(503, message), "text/html; charset=utf-8")
    else:
        body = {"error": message, "code": 14, "message": message, "details": []}
        await _respond(scope, send, 503, json.dumps(body).encode(), "application/json")


def _page(status: int, message: str) -> bytes:
    titles: dict[int, str] = {401: "Sign in needed", 403: "Not allowed", 404: "Not found"}
    return pages.page(
        status,
        titles.get(status, "Unavailable"),
        message,
        # A not-running app may be starting: try again by itself. (No links: on an app's
        # own host, a relative link would lead into the app.)
        retry_seconds=5 if status == 503 else None,
    )

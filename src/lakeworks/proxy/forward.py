"""Forward one ASGI request or websocket to a workload listening on 127.0.0.1.

``forward(scope, receive, send, target=..., path=...)`` is the only entry point. The caller has
already decided *where* the request goes and *whether* it may go there (authentication and
authorisation happen before ``forward``, in services); this module only moves bytes:

- **HTTP**: kept-alive HTTP/1.1 connections per event loop (``upstream``, h11). The request
  body is streamed upstream as it arrives and the response body is streamed back chunk by
  chunk, undecoded (``Content-Encoding`` passes through), so long polling and server-sent
  events work. A client that disconnects mid-stream closes the upstream connection. There is
  no read timeout: a long poll may wait as long as the app wants; connecting has a short
  timeout.
- **Websockets**: the upstream handshake is made first (with the browser's subprotocols and
  ``Origin``), then the browser is accepted with the subprotocol the app chose. Text and binary
  messages are relayed both ways; close codes and reasons are passed on. A message larger than
  ``max_message_bytes`` (either direction) closes both sides with 1009 ("message too big"), so a
  client cannot make the server hold huge frames (uvicorn's own ``ws_max_size`` bounds what it
  buffers before we see it).
- **Headers**: hop-by-hop headers (``Connection`` and the ones it names, ``Keep-Alive``,
  ``Transfer-Encoding``, ``Upgrade``, ``TE``, ``Trailer``, ``Proxy-*``) are dropped. ``Host`` is
  preserved (the app sees the host the browser used, which Tornado/Streamlit origin checks and
  absolute URL building rely on). ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and
  ``X-Forwarded-For`` (appended to) are set; ``X-Forwarded-Prefix`` when ``prefix`` is given.
  Client-supplied ``X-Forwarded-User``/``X-Forwarded-Prefix`` are always removed, so an app can
  trust them. With ``location_prefix``, a redirect's ``Location`` that leaves the prefix (an
  app that believes it is served at ``/``, as Spark's UI does) is put back under it. The
  platform's own session cookie is removed from ``Cookie`` so app code never
  sees a visitor's Lakeworks session, and an app's ``Set-Cookie`` of that name is dropped.
- **Upstream down**: a 502 with a styled HTML page that says what to do and retries by itself
  (browsers; ``down`` words it, see ``proxy.pages``) or a JSON error body (API clients); for a
  websocket, a 502 denial response where the server supports it, else close 1011 before
  accepting.

Example (inside an ASGI app, after authorising the user)::

    await forward(scope, receive, send, target="127.0.0.1:20001", path="/",
                  headers={"X-Forwarded-User": "alice"}, prefix="/apps/demo")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from lakeworks.proxy import upstream
from lakeworks.proxy.pages import Down
from lakeworks.web.auth import SESSION_COOKIE

log = logging.getLogger("lakeworks.proxy")

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers the proxy owns: whatever the client sent under these names is discarded.
OWNED = frozenset(
    {
        "host",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-prefix",
        "x-forwarded-user",
        "x-forwarded-for",
    }
)
# Websocket handshake headers the upstream client library writes itself.
WEBSOCKET_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
        "origin",
        "content-length",
    }
)
# Close codes that may not be sent in a close frame (RFC 6455 §7.4.1).
UNSENDABLE_CLOSE = frozenset({1005, 1006, 1015})


async def close_http_client() -> None:
    """Close the running loop's idle upstream connections (server shutdown)."""
    upstream.close_pool()


async def forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    target: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    prefix: str | None = None,
    max_message_bytes: int | None = None,
    drop_headers: Collection[str] = (),
    down: Down | None = None,
    location_prefix: str | None = None,
) -> None:
    """Relay this ``http`` or ``websocket`` scope to ``target`` (``"127.0.0.1:<port>"``).

    ``path`` is the upstream path (the query string is taken from the scope); ``headers`` are
    set upstream, replacing any the client sent (e.g. ``X-Forwarded-User``); ``prefix`` becomes
    ``X-Forwarded-Prefix``. ``max_message_bytes`` bounds websocket messages (default: the app's
    ``settings.proxy_max_ws_message_bytes``, else 16 MiB); ``drop_headers`` names request
    headers not to pass on (e.g. ``authorization`` when it carried a Lakeworks API key);
    ``down`` words the page a browser gets when the workload does not answer;
    ``location_prefix`` keeps the app's redirects under that path on this host.
    """
    upstream_headers = _upstream_headers(scope, headers or {}, prefix, drop_headers)
    if scope["type"] == "http":
        await _forward_http(
            scope, receive, send, target, path, upstream_headers, down or Down(), location_prefix
        )
    elif scope["type"] == "websocket":
        limit = max_message_bytes or _configured_limit(scope)
        await _forward_websocket(scope, receive, send, target, path, upstream_headers, limit)
    else:  # pragma: no cover - lifespan never reaches a route
        raise ValueError(f"cannot forward a {scope['type']!r} scope")


# --- headers ---------------------------------------------------------------------------------


def _configured_limit(scope: Scope) -> int:
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return int(getattr(settings, "proxy_max_ws_message_bytes", 0) or DEFAULT_MAX_MESSAGE_BYTES)


def _request_headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def _upstream_headers(
    scope: Scope, extra: Mapping[str, str], prefix: str | None, drop: Collection[str]
) -> list[tuple[str, str]]:
    incoming = _request_headers(scope)
    named_by_connection = {
        token.strip().lower()
        for name, value in incoming
        if name == "connection"
        for token in value.split(",")
    }
    dropped = HOP_BY_HOP | OWNED | named_by_connection | {d.lower() for d in drop}
    dropped |= {k.lower() for k in extra}
    out: list[tuple[str, str]] = []
    host = ""
    forwarded_for = ""
    for name, value in incoming:
        if name == "host":
            host = value
        if name == "x-forwarded-for":
            forwarded_for = value
        if name in dropped:
            continue
        if name == "cookie":
            value = _without_session_cookie(value)
            if not value:
                continue
        out.append((name, value))
    client = scope.get("client")
    client_ip = client[0] if client else ""
    scheme = str(scope.get("scheme") or "http")
    proto = {"ws": "http", "wss": "https"}.get(scheme) or scheme
    if host:
        out.append(("host", host))
        out.append(("x-forwarded-host", host))
    out.append(("x-forwarded-proto", proto))
    if client_ip:
        out.append(
            ("x-forwarded-for", f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip)
        )
    if prefix:
        out.append(("x-forwarded-prefix", prefix))
    out.extend((k.lower(), v) for k, v in extra.items())
    return out


def _without_session_cookie(cookie: str) -> str:
    parts = [p.strip() for p in cookie.split(";")]
    kept = [p for p in parts if p and p.split("=", 1)[0].strip() != SESSION_COOKIE]
    return "; ".join(kept)


def _response_headers(
    headers: list[tuple[bytes, bytes]], location_prefix: str | None = None
) -> list[tuple[bytes, bytes]]:
    named_by_connection = {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.decode("latin-1").split(",")
        if token.strip()
    }
    return [
        (name, _under(value, location_prefix) if location_prefix and name == b"location" else value)
        for name, value in headers
        if name.decode("latin-1") not in HOP_BY_HOP | named_by_connection
        # An app may not plant or overwrite the platform's sign-in cookie (a path-routed
        # app shares its origin; a host-routed one its domain when the cookie is shared).
        and not (name == b"set-cookie" and _cookie_name(value) == SESSION_COOKIE)
    ]


def _under(location: bytes, prefix: str) -> bytes:
    """``Location`` as a path under ``prefix`` on this host: ``http://any-host/jobs/`` and
    ``/jobs/`` become ``<prefix>/jobs/``. The host is dropped whatever it was, so an app
    behind a prefix cannot redirect the browser to another site."""
    parts = urlsplit(location.decode("latin-1"))
    if not parts.scheme and not parts.netloc and not parts.path.startswith("/"):
        return location  # relative to the page: already under the prefix
    path = parts.path or "/"
    if path != prefix and not path.startswith(prefix.rstrip("/") + "/"):
        path = prefix.rstrip("/") + path
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return (path + query + fragment).encode("latin-1")


def _cookie_name(set_cookie: bytes) -> str:
    return set_cookie.decode("latin-1").split("=", 1)[0].strip()


def _query(scope: Scope) -> str:
    raw = scope.get("query_string", b"")
    return "?" + raw.decode("latin-1") if raw else ""


# --- HTTP ------------------------------------------------------------------------------------


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


async def _forward_http(
    scope: Scope,
    receive: Receive,
    send: Send,
    target: str,
    path: str,
    headers: list[tuple[str, str]],
    down: Down,
    location_prefix: str | None = None,
) -> None:
    method = scope["method"]
    names = {name for name, _ in headers}
    has_body = "content-length" in names or any(
        name == "transfer-encoding" for name, _ in _request_headers(scope)
    )
    if has_body and "content-length" not in names:
        headers = [*headers, ("transfer-encoding", "chunked")]
    if "host" not in names:
        headers = [*headers, ("host", target)]
    request = h11.Request(
        method=method,
        target=(path + _query(scope)).encode("latin-1"),
        headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
    )
    pool = upstream.pool()
    body_read = not has_body
    fresh = False
    while True:
        try:
            connection = await pool.checkout(target, fresh=fresh)
        except upstream.Unreachable as exc:
            log.info("proxy: upstream %s unreachable: %s", target, exc)
            await _bad_gateway(scope, send, target, exc, down)
            return
        try:
            await connection.send(request)
            while not body_read:
                message = await receive()
                if message["type"] == "http.disconnect":
                    connection.close()
                    return
                chunk = message.get("body", b"")
                if chunk:
                    await connection.send(h11.Data(data=chunk))
                body_read = not message.get("more_body", False)
            await connection.send(h11.EndOfMessage())
            response = await connection.response()
            break
        except (OSError, h11.LocalProtocolError) as exc:
            connection.close()
            # A kept-alive connection the app closed just as we reused it: a request without
            # a body that is safe to repeat gets one more try on a new connection.
            if connection.reused and not has_body and method in IDEMPOTENT and not fresh:
                fresh = True
                continue
            log.info("proxy: upstream %s failed before answering: %s", target, exc)
            await _bad_gateway(scope, send, target, exc, down)
            return
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": _response_headers(list(response.headers), location_prefix),
        }
    )
    relay = asyncio.ensure_future(_relay_body(connection, send, target))
    # A client that leaves mid-stream (long poll, server-sent events) ends the relay.
    watch = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not relay.done():
            relay.cancel()
            connection.close()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    if relay.done() and not relay.cancelled() and relay.result():
        pool.release(target, connection)
    else:
        connection.close()


async def _relay_body(connection: upstream.Connection, send: Send, target: str) -> bool:
    """Stream the response body to the client; True when it ended cleanly."""
    clean = True
    try:
        while True:
            event = await connection.next_event()
            if isinstance(event, h11.Data):
                await send(
                    {"type": "http.response.body", "body": bytes(event.data), "more_body": True}
                )
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except OSError as exc:
        # The response has started: all we can do is end it early.
        log.info("proxy: upstream %s broke mid-response: %s", target, exc)
        clean = False
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return clean


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _bad_gateway(scope: Scope, send: Send, target: str, exc: Exception, down: Down) -> None:
    message = f"{down.title}. {down.message}"
    accept = dict(_request_headers(scope)).get("accept", "")
    if "text/html" in accept:
        body = down.render()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps(
            {"error": message, "code": 14, "message": message, "details": [target]}
        ).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 502,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


# --- websockets ------------------------------------------------------------------------------


async def _open_upstream(
    scope: Scope, target: str, path: str, headers: list[tuple[str, str]], limit: int
) -> ClientConnection:
    host, _, port = target.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    except BaseException:
        sock.close()
        raise
    incoming = dict(_request_headers(scope))
    # The URI's authority only fixes the Host header (preserved from the browser); the
    # connection itself is the socket opened above.
    authority = dict(headers).get("host") or target
    extra = [(k, v) for k, v in headers if k not in WEBSOCKET_HANDSHAKE and k != "host"]
    return await connect(
        f"ws://{authority}{path}{_query(scope)}",
        sock=sock,
        proxy=None,
        origin=incoming.get("origin"),  # type: ignore[arg-type]
        subprotocols=scope.get("subprotocols") or None,
        additional_headers=extra,
        user_agent_header=None,
        compression=None,
        max_size=limit,
        ping_interval=None,  # the browser and the app keep their own connection alive
        open_timeout=CONNECT_TIMEOUT_SECONDS,
    )


async def _forward_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    target: str,
    path: str,
    headers: list[tuple[str, str]],
    limit: int,
) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    try:
        upstream = await _open_upstream(scope, target, path, headers, limit)
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        log.info("proxy: websocket upstream %s refused: %s", target, exc)
        status = exc.response.status_code if isinstance(exc, InvalidStatus) else 502
        await _deny_websocket(scope, send, status)
        return
    accept: Message = {"type": "websocket.accept", "subprotocol": upstream.subprotocol}
    await send(accept)
    relay = _Relay(receive, send, upstream, limit)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(relay.browser_to_app, tasks)
            tasks.start_soon(relay.app_to_browser, tasks)
    except* OSError:
        # The browser went away mid-send (the server raises ClientDisconnected, an OSError):
        # an ordinary end of the conversation, not an error.
        relay.client_close = relay.client_close or (1001, "client went away")
    finally:
        # Always close the upstream, also when cancelled or the browser vanished, so no
        # transport is left open.
        code, reason = relay.client_close or (1000, "")
        code = 1000 if code in UNSENDABLE_CLOSE else code
        with anyio.CancelScope(shield=True):
            await upstream.close(code=code, reason=reason[:120])


class _Relay:
    """The two directions of one proxied websocket; ``client_close`` is how the browser
    ended it (None while it has not)."""

    def __init__(
        self, receive: Receive, send: Send, upstream: ClientConnection, limit: int
    ) -> None:
        self.receive = receive
        self.send = send
        self.upstream = upstream
        self.limit = limit
        self.client_close: tuple[int, str] | None = None

    async def browser_to_app(self, tasks: anyio.abc.TaskGroup) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "websocket.disconnect":
                self.client_close = (int(message.get("code", 1000)), message.get("reason") or "")
                break
            data: str | bytes | None = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data.encode()) if isinstance(data, str) else len(data)
            if size > self.limit:
                self.client_close = (1009, "message too big")
                await self.send({"type": "websocket.close", "code": 1009, "reason": "too big"})
                break
            try:
                await self.upstream.send(data)
            except ConnectionClosed:
                break
        tasks.cancel_scope.cancel()

    async def app_to_browser(self, tasks: anyio.abc.TaskGroup) -> None:
        try:
            async for data in self.upstream:
                if isinstance(data, str):
                    await self.send({"type": "websocket.send", "text": data})
                else:
                    await self.send({"type": "websocket.send", "bytes": data})
        except ConnectionClosed:
            pass
        if self.client_close is None:
            code, reason = _close_of(self.upstream)
            await self.send({"type": "websocket.close", "code": code, "reason": reason})
        tasks.cancel_scope.cancel()


def _close_of(upstream: ClientConnection) -> tuple[int, str]:
    received = upstream.protocol.close_rcvd or upstream.protocol.close_sent
    if received is None:
        return 1011, "upstream connection lost"
    code = int(received.code)
    if code in UNSENDABLE_CLOSE:
        return 1000 if code == 1005 else 1011, received.reason
    return code, received.reason


async def _deny_websocket(scope: Scope, send: Send, status: int) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": "upstream websocket unavailable", "status": status}).encode()
        start: dict[str, Any] = {
            "type": "websocket.http.response.start",
            "status": 502 if status < 400 else status,
            "headers": [(b"content-type", b"application/json")],
        }
        await send(start)
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1011, "reason": "upstream unavailable"})

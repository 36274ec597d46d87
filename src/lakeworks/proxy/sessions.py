"""``/sessions/<id>/...``: a session's Jupyter server (JupyterLab, terminals, kernels), HTTP
and websockets, for the session's owner only (rule in ``services/sessions.py``).

The Jupyter server on 127.0.0.1 admits only requests carrying the session's token, and this
route is the only one that adds it. It signs the browser in from the Lakeworks session
cookie, asks the sessions service whether this person may enter this session, records the
activity (idle timeout), then hands the request to ``proxy.forward`` with the token header
(path included: Jupyter's ``base_url`` is ``/sessions/<id>/``).
Jupyter's own XSRF check and websocket ``Origin`` check stay on behind it.

``/sessions/<id>/spark/...``: the session's Spark UI (``SPARK_UI_PORT``, sessions with the
Spark add-on), for the same people, with the prefix stripped. Spark's UI builds its links from
``X-Forwarded-Context`` (its ``UIUtils.uiRoot``), which the proxy sets to the prefix; its
redirects name the host it believes it is on, so their ``Location`` is put back under the
prefix. Until a SparkSession is started in the session nothing listens there, and the browser
gets a page that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

import anyio
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from lakeworks.errors import LakeworksError, http_status
from lakeworks.proxy.forward import forward
from lakeworks.proxy.pages import Down, page
from lakeworks.services import sessions
from lakeworks.services.platform import Platform, Principal
from lakeworks.web.auth import session_principal

PATH = "/sessions/{session_id}/{path:path}"
SPARK_PATH = "/sessions/{session_id}/spark/{path:path}"
SPARK_ROOT = "/sessions/{session_id}/spark"


async def _enter(
    scope: Scope, receive: Receive, send: Send
) -> tuple[Principal, sessions.Endpoint] | None:
    """The caller and the session's endpoint, or None once refused (answered here)."""
    connection = HTTPConnection(scope, receive)
    platform: Platform = scope["app"].state.platform
    session_id = connection.path_params["session_id"]
    principal = await anyio.to_thread.run_sync(
        session_principal, cast(Request, connection), platform
    )
    if principal is None:
        target = quote(connection.url.path, safe="")
        await _refuse(scope, receive, send, 401, "Sign in to open this session.", target)
        return None
    try:
        endpoint = await anyio.to_thread.run_sync(sessions.enter, platform, principal, session_id)
    except LakeworksError as exc:
        await _refuse(scope, receive, send, http_status(exc), exc.message, "")
        return None
    await anyio.to_thread.run_sync(sessions.touch, platform, session_id)
    return principal, endpoint


async def session_proxy(scope: Scope, receive: Receive, send: Send) -> None:
    entered = await _enter(scope, receive, send)
    if entered is None:
        return
    principal, endpoint = entered
    session_id = endpoint.session.id
    session_page = f"/projects/{endpoint.session.project_id}/sessions/{session_id}"
    try:  # noqa: SIM105 (contextlib.suppress ignores exception groups before Python 3.12)
        await forward(
            scope,
            receive,
            send,
            target=endpoint.jupyter.removeprefix("http://"),
            path=scope["path"],
            headers={"X-Forwarded-User": principal.user.username, **endpoint.jupyter_headers},
            down=Down(
                title="JupyterLab is not answering yet",
                message="The session runs, but its editor is still starting (or it crashed).",
                hint="If it keeps failing, read the session's log on its page, or stop it and "
                "start a new one.",
                links=(("Back to the session", session_page),),
                retry_seconds=3,
            ),
        )
    except* OSError:
        # The browser went away mid-relay (a tab closed while JupyterLab's kernel socket was
        # sending; uvicorn's ClientDisconnected is an OSError): nobody is left to answer.
        pass


async def spark_ui_proxy(scope: Scope, receive: Receive, send: Send) -> None:
    """The session's Spark UI under ``/sessions/<id>/spark/`` (HTTP only: it has no sockets)."""
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 4404, "reason": "no websocket here"})
        return
    entered = await _enter(scope, receive, send)
    if entered is None:
        return
    principal, endpoint = entered
    session = endpoint.session
    prefix = f"/sessions/{session.id}/spark"
    session_page = f"/projects/{session.project_id}/sessions/{session.id}"
    rest = scope["path"][len(prefix) :]
    if not rest:  # ``/spark`` → ``/spark/``: relative links need the slash
        query = scope.get("query_string", b"").decode("latin-1")
        await RedirectResponse(prefix + "/" + (f"?{query}" if query else ""), 307)(
            scope, receive, send
        )
        return
    target = endpoint.spark_ui
    if target is None:
        await _refuse(
            scope,
            receive,
            send,
            404,
            "This session was started without the Spark add-on, so it has no Spark UI.",
            "",
            links=(("Back to the session", session_page),),
            title="No Spark in this session",
        )
        return
    await forward(
        scope,
        receive,
        send,
        target=target,
        path=rest,
        headers={"X-Forwarded-User": principal.user.username, "X-Forwarded-Context": prefix},
        location_prefix=prefix,
        down=Down(
            title="Spark has not been started in this session",
            message="Spark's UI appears here once code in the session starts a SparkSession "
            "(for example SparkSession.builder.getOrCreate()), and goes when it stops.",
            hint="Start Spark in the session, then reload this page.",
            links=(("Back to the session", session_page),),
            retry_seconds=5,
        ),
    )


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    login_next: str,
    *,
    links: tuple[tuple[str, str], ...] = (("Your sessions", "/sessions"),),
    title: str = "",
) -> None:
    if scope["type"] == "websocket":
        # Deny the handshake: close before accept (the browser sees a failed connection).
        await send({"type": "websocket.close", "code": 4000 + status, "reason": message[:120]})
        return
    response: Response
    accepts_html = "text/html" in HTTPConnection(scope).headers.get("accept", "")
    if status == 401 and accepts_html:
        response = RedirectResponse(f"/login?next={login_next}", status_code=303)
    elif accepts_html:
        titles = {403: "Not allowed", 404: "Session not found", 409: "This session is not open"}
        body = page(
            status,
            title or titles.get(status, "This session cannot be opened"),
            message,
            hint="Open your sessions to start one, or to open one that is running.",
            links=links,
        )
        response = Response(body, status_code=status, media_type="text/html")
    else:
        response = JSONResponse({"message": message}, status_code=status)
    await response(scope, receive, send)


class _Asgi:
    """A plain ASGI app (Starlette wraps bare functions as request/response endpoints)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def routes() -> list[BaseRoute]:
    """HTTP (every method) and websocket routes under ``/sessions/<id>/``; the Spark UI's
    first (the Jupyter route takes every other path)."""
    jupyter, spark = _Asgi(session_proxy), _Asgi(spark_ui_proxy)
    return [
        Route(SPARK_ROOT, spark),
        Route(SPARK_PATH, spark),
        Route(PATH, jupyter),
        WebSocketRoute(PATH, jupyter),
    ]

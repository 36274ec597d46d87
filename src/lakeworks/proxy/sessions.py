"""``/sessions/<id>/...``: a session's Jupyter server (JupyterLab, terminals, kernels), HTTP
and websockets, for the session's owner only (rule in ``services/sessions.py``).

The Jupyter server on 127.0.0.1 admits only requests carrying the session's token, and this
route is the only one that adds it. It signs the browser in from the Lakeworks session
cookie, asks the sessions service whether this person may enter this session, records the
activity (idle timeout), then hands the request to ``proxy.forward`` with the token header
(path included: Jupyter's ``base_url`` is ``/sessions/<id>/``).
Jupyter's own XSRF check and websocket ``Origin`` check stay on behind it.
"""

from __future__ import annotations

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
from lakeworks.services.platform import Platform
from lakeworks.web.auth import session_principal

PATH = "/sessions/{session_id}/{path:path}"


async def session_proxy(scope: Scope, receive: Receive, send: Send) -> None:
    connection = HTTPConnection(scope, receive)
    platform: Platform = scope["app"].state.platform
    session_id = connection.path_params["session_id"]
    principal = await anyio.to_thread.run_sync(
        session_principal, cast(Request, connection), platform
    )
    if principal is None:
        target = quote(connection.url.path, safe="")
        await _refuse(scope, receive, send, 401, "Sign in to open this session.", target)
        return
    try:
        endpoint = await anyio.to_thread.run_sync(sessions.enter, platform, principal, session_id)
    except LakeworksError as exc:
        await _refuse(scope, receive, send, http_status(exc), exc.message, "")
        return
    await anyio.to_thread.run_sync(sessions.touch, platform, session_id)
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


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, login_next: str
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
            titles.get(status, "This session cannot be opened"),
            message,
            hint="Open your sessions to start one, or to open one that is running.",
            links=(("Your sessions", "/sessions"),),
        )
        response = Response(body, status_code=status, media_type="text/html")
    else:
        response = JSONResponse({"message": message}, status_code=status)
    await response(scope, receive, send)


class _Asgi:
    """A plain ASGI app (Starlette wraps bare functions as request/response endpoints)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await session_proxy(scope, receive, send)


def routes() -> list[BaseRoute]:
    """HTTP (every method) and websocket routes under ``/sessions/<id>/``."""
    return [Route(PATH, _Asgi()), WebSocketRoute(PATH, _Asgi())]

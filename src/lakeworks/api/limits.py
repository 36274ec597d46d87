"""Request body size limit, enforced before a handler reads the body."""

from __future__ import annotations

import html
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks.errors import PayloadTooLarge, error_body


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length first, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = PayloadTooLarge(
            f"The request body is larger than {self.max_bytes} bytes (LAKEWORKS_MAX_UPLOAD_BYTES)."
        )
        if _declared_length(scope) > self.max_bytes:
            await _reject(scope, send, error)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(scope, send, error)


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length, or 0 when it has none (or a malformed one)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Too large · Lakeworks</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="error-card"><h1>Upload too large</h1><p class="lead">{message}</p>
<p><a href="javascript:history.back()">Go back</a></p></main></body></html>"""


class _TooLarge(Exception):
    pass


async def _reject(scope: Scope, send: Send, error: PayloadTooLarge) -> None:
    if str(scope.get("path", "")).startswith("/api/"):
        body = json.dumps(error_body(error)).encode()
        content_type = b"application/json"
    else:
        # A browser form post: a small page it can show, with a way back.
        body = _PAGE.format(message=html.escape(error.message)).encode()
        content_type = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

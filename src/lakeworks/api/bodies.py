"""JSON bodies sent as form data: read them as JSON, as CML's API does.

``curl -d '{"name": "Churn"}'`` labels its body ``application/x-www-form-urlencoded`` unless
told otherwise, and CML accepts it; FastAPI would refuse it (the body is not JSON by its
label). Under ``/api/``, a form-labelled body that *is* a JSON object or array is relabelled
``application/json`` before the route sees it. A real form (``a=1&b=2``) passes unchanged,
and so does every other content type. The body is already bounded by ``BodySizeLimit``, which
wraps this middleware.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM = b"application/x-www-form-urlencoded"


class LenientJsonBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        labelled_form = any(
            name == b"content-type" and value.split(b";")[0].strip().lower() == FORM
            for name, value in headers
        )
        if not labelled_form:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before sending its body: nothing to relabel.
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _is_json_document(body):
            headers = [
                (name, b"application/json" if name == b"content-type" else value)
                for name, value in headers
            ]
            scope = {**scope, "headers": headers}
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)


def _is_json_document(body: bytes) -> bool:
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` first, then the client's own (disconnects)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay

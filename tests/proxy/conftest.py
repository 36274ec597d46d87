"""Proxy fixtures.

Provides:
- ``serve(app)``: a context manager that serves an ASGI app with uvicorn on a free loopback port
  (a background thread, websockets enabled) and yields its ``host:port``.
- ``upstream``: a small ASGI app (echo, streaming, websocket echo) served that way: its target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


@contextlib.contextmanager
def serve(app: ASGIApp, **config: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", "ws": "websockets", "lifespan": "off"}
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def serve_app() -> Callable[..., contextlib.AbstractContextManager[str]]:
    return serve


async def upstream_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo (``/echo``), stream (``/stream``: SSE, one event per 50 ms), websocket echo."""
    if scope["type"] == "websocket":
        message = await receive()
        assert message["type"] == "websocket.connect"
        protocols = scope.get("subprotocols") or []
        await send({"type": "websocket.accept", "subprotocol": protocols[0] if protocols else None})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text == "close-4001":
                await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
                return
            if text == "send-big":
                await send({"type": "websocket.send", "bytes": b"x" * (2 * 1024 * 1024)})
                continue
            if text == "headers":
                headers = {k.decode(): v.decode() for k, v in scope["headers"]}
                await send({"type": "websocket.send", "text": json.dumps(headers)})
                continue
            if text is not None:
                await send({"type": "websocket.send", "text": "echo:" + text})
            else:
                await send({"type": "websocket.send", "bytes": b"echo:" + message["bytes"]})
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"].startswith("/stream"):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for i in range(5):
            await send(
                {"type": "http.response.body", "body": b"data: %d\n\n" % i, "more_body": True}
            )
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    payload = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body_length": len(body),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-upstream", b"yes"),
                (b"set-cookie", b"app=1; Path=/"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve(upstream_app) as target:
        yield target

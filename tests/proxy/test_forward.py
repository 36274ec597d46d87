"""The forwarder against real uvicorn servers: HTTP streaming, headers, websockets, 502."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from starlette.types import Receive, Scope, Send
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from lakeworks.proxy.forward import close_http_client, forward

LIMIT = 1024 * 1024


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close_http_client()
            await send({"type": "lifespan.shutdown.complete"})
            return


def proxy_to(target: str) -> Callable[[Scope, Receive, Send], object]:
    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path = scope["path"].removeprefix("/apps/demo") or "/"
        await forward(
            scope,
            receive,
            send,
            target=target,
            path=path,
            headers={"X-Forwarded-User": "alice"},
            prefix="/apps/demo",
            max_message_bytes=LIMIT,
        )

    return proxy


@pytest.fixture
def proxy(upstream: str, serve_app: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with serve_app(proxy_to(upstream), lifespan="on") as address:
        yield address


def test_http_request_is_forwarded_with_headers_and_body(proxy: str) -> None:
    response = httpx.post(
        f"http://{proxy}/apps/demo/echo/x?a=1&b=2",
        content=b"y" * 100_000,
        headers={
            "Host": "demo.example.test",
            "X-Forwarded-User": "mallory",
            "Cookie": "lakeworks_session=secret; theme=dark",
            "Connection": "keep-alive, X-Private",
            "X-Private": "hop",
        },
    )
    assert response.status_code == 201
    assert response.headers["x-upstream"] == "yes"
    assert response.headers["set-cookie"] == "app=1; Path=/"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/x"
    assert seen["query"] == "a=1&b=2"
    assert seen["body_length"] == 100_000
    headers = seen["headers"]
    assert headers["host"] == "demo.example.test"
    assert headers["x-forwarded-host"] == "demo.example.test"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-prefix"] == "/apps/demo"
    # The client cannot impersonate a user, and the app never sees the platform session.
    assert headers["x-forwarded-user"] == "alice"
    assert headers["cookie"] == "theme=dark"
    assert "x-private" not in headers


def test_streaming_response_arrives_chunk_by_chunk(proxy: str) -> None:
    arrivals: list[float] = []
    with httpx.stream("GET", f"http://{proxy}/apps/demo/stream") as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = []
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic())
            events.append(chunk)
    assert b"".join(events) == b"".join(b"data: %d\n\n" % i for i in range(5))
    # Unbuffered: the events did not all arrive in one piece at the end.
    assert len(events) >= 3


def test_upstream_down_gives_502(serve_app: Callable[..., AbstractContextManager[str]]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    with serve_app(proxy_to(dead), lifespan="on") as address:
        api = httpx.get(f"http://{address}/apps/demo/")
        assert api.status_code == 502
        assert "not answering" in api.json()["message"]
        page = httpx.get(f"http://{address}/apps/demo/", headers={"Accept": "text/html"})
        assert page.status_code == 502
        # A styled page that says what to do, and tries again by itself (an app starting).
        assert "<h1>The application is not answering</h1>" in page.text
        assert "read its log" in page.text
        assert '<meta http-equiv="refresh" content="5">' in page.text
        assert "<style>" in page.text
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{address}/apps/demo/ws", open_timeout=10)
        assert refused.value.response.status_code == 502


def test_websocket_text_binary_subprotocol_and_headers(proxy: str) -> None:
    with connect(
        f"ws://{proxy}/apps/demo/ws?x=1",
        subprotocols=["streamlit", "other"],  # type: ignore[list-item]
        additional_headers={"X-Forwarded-User": "mallory"},
        origin="http://demo.example.test",  # type: ignore[arg-type]
    ) as ws:
        assert ws.subprotocol == "streamlit"
        ws.send("hello")
        assert ws.recv() == "echo:hello"
        ws.send(b"\x00\x01")
        assert ws.recv() == b"echo:\x00\x01"
        ws.send("headers")
        headers = json.loads(ws.recv())
        assert headers["x-forwarded-user"] == "alice"
        assert headers["origin"] == "http://demo.example.test"
        assert headers["x-forwarded-prefix"] == "/apps/demo"


def test_websocket_close_code_from_app_is_passed_on(proxy: str) -> None:
    with connect(f"ws://{proxy}/apps/demo/ws") as ws:
        ws.send("close-4001")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001
    assert closed.value.rcvd.reason == "asked to"


def test_huge_frame_from_client_is_refused_and_proxy_keeps_serving(proxy: str) -> None:
    with connect(f"ws://{proxy}/apps/demo/ws", max_size=None) as ws:
        ws.send(b"z" * (LIMIT + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # A message just under the limit still passes, and the server is unharmed.
    with connect(f"ws://{proxy}/apps/demo/ws", max_size=None) as ws:
        ws.send(b"z" * (LIMIT - 10))
        assert len(ws.recv()) == LIMIT - 10 + len(b"echo:")
    assert httpx.get(f"http://{proxy}/apps/demo/echo").status_code == 201


def test_huge_frame_from_app_closes_with_1009(proxy: str) -> None:
    with connect(f"ws://{proxy}/apps/demo/ws", max_size=None) as ws:
        ws.send("send-big")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_many_concurrent_requests_share_the_pool(proxy: str) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient() as client:
            responses = await asyncio.gather(
                *(client.get(f"http://{proxy}/apps/demo/echo?i={i}") for i in range(50))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [201] * 50


def test_an_app_that_drops_idle_connections_still_answers_every_request(
    serve_app: Callable[..., AbstractContextManager[str]],
) -> None:
    # An app server that closes a kept-alive connection without saying so (as servers with
    # short keep-alive timeouts do): the proxy must not answer 502 for the connection it
    # kept, whether the close reached it before the next request or races with it.
    import socketserver
    import threading

    class OneAnswerPerConnection(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), OneAnswerPerConnection) as app:
        threading.Thread(target=app.serve_forever, daemon=True).start()
        target = f"127.0.0.1:{app.server_address[1]}"
        try:
            with serve_app(proxy_to(target), lifespan="on") as proxy, httpx.Client() as client:
                for _ in range(20):
                    answer = client.get(f"http://{proxy}/apps/demo/")
                    assert (answer.status_code, answer.text) == (200, "ok")
        finally:
            app.shutdown()

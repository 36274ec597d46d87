"""A real Lakeworks HTTP server in a background thread, for clients that need a URL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from lakeworks.config import Settings
from lakeworks.serving import local_socket


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    settings: Settings

    @property
    def platform(self) -> Any:
        return self.app.state.platform


@contextmanager
def live_server(settings: Settings, store: Any) -> Iterator[LiveServer]:
    """Serve ``create_app(settings)`` on a free loopback port; its public URL is that port."""
    from lakeworks.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"public_url": url, "port": port})
    app = create_app(settings, store)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    sockets = [sock]
    if local_socket.wanted(settings):  # as `lakeworks server`: workloads' gateway socket
        sockets.append(local_socket.bind(settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=url, app=app, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        for each in sockets:
            each.close()

"""The platform's probes of its workloads: 200 within the timeout or not, one client for the
platform, no connection kept to a workload between probes, usable again after a close."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.ports import free_port

from lakeworks.services.platform import Platform
from lakeworks.services.probes import probes_for


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # would keep connections alive if the client asked
    connections: set[int] = set()

    def do_GET(self) -> None:
        _Handler.connections.add(self.client_address[1])
        status = 200 if self.path == "/health" else 404
        if self.path == "/needs-header" and self.headers.get("X-Token") == "t":
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def workload() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.connections = set()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_probe_says_whether_the_workload_answers(platform: Platform, workload: str) -> None:
    probes = probes_for(platform)
    assert probes is probes_for(platform)
    assert probes.answers(f"{workload}/health")
    assert not probes.answers(f"{workload}/missing")
    assert not probes.answers(f"{workload}/needs-header")
    assert probes.answers(f"{workload}/needs-header", {"X-Token": "t"})
    # Each probe came on a connection of its own: none is held open to the workload.
    assert len(_Handler.connections) == 4
    probes.close()
    assert probes.answers(f"{workload}/health"), "usable again after the platform closed it"


def test_a_probe_of_nothing_listening_is_false(platform: Platform) -> None:
    assert not probes_for(platform).answers(f"http://127.0.0.1:{free_port()}/health")

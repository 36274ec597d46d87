"""The model gateway's Unix socket for workloads (``serving.local_socket``): bound where
workloads find it, answering model calls and nothing else."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from tests.tracking.live import live_server

from lakeworks.config import Settings
from lakeworks.services import environment
from lakeworks.serving import local_socket
from lakeworks.store.uow import Store


def test_the_socket_binds_under_a_data_directory_too_long_for_a_socket_address(
    settings: Settings, tmp_path: Path
) -> None:
    deep = tmp_path / ("d" * 100) / "data"
    settings = settings.model_copy(update={"data_dir": deep})
    assert len(str(settings.gateway_socket)) > 108
    first = local_socket.bind(settings)
    first.close()  # a stopped server's socket file stays behind ...
    second = local_socket.bind(settings)  # ... and the next server replaces it
    try:
        mode = settings.gateway_socket.stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666
        assert stat.S_IMODE(settings.server_socket_dir.stat().st_mode) == 0o755
    finally:
        second.close()


def test_the_socket_answers_model_calls_only(settings: Settings, store: Store) -> None:
    with live_server(settings, store) as server:
        path = str(server.settings.gateway_socket)
        over_socket = httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://x")
        with over_socket:
            # A model call reaches the gateway (which looks the key up) ...
            call = over_socket.post("/model", json={"accessKey": "nosuchkey", "request": {}})
            assert call.status_code == 404, call.text
            assert call.json()["errors"]["code"] == "model.not_found"
            legacy = over_socket.post(
                "/api/altus-ds-1/models/call-model", json={"accessKey": "k", "request": {}}
            )
            assert legacy.json()["errors"]["code"] == "model.not_found"
            # ... whatever Host the client names; the rest of the server is not there.
            for method, where in (("GET", "/api/v2/projects"), ("GET", "/"), ("POST", "/mlflow")):
                refused = over_socket.request(method, where, headers={"Host": "localhost"})
                assert refused.status_code == 404, (where, refused.text)
                assert "POST /model only" in refused.json()["errors"]["message"]
        # Over TCP the same path is the API's, which wants a key.
        assert httpx.get(f"{server.url}/api/v2/projects").status_code == 401


@pytest.mark.parametrize(
    ("sandbox", "seen_at"), [("bwrap", "/run/lakeworks/gateway.sock"), ("none", None)]
)
def test_workloads_are_told_where_the_socket_is(
    settings: Settings, sandbox: str, seen_at: str | None
) -> None:
    settings = settings.model_copy(update={"sandbox": sandbox})
    expected = seen_at or str(settings.data_dir / "run" / "gateway.sock")
    assert environment.local_gateway_socket(settings) == expected
    assert local_socket.wanted(settings)
    assert not local_socket.wanted(settings.model_copy(update={"executor": "ray"}))

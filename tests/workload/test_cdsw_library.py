"""The in-workload ``cdsw`` module and ``cml`` package (compat §3), in a real runtime."""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import subprocess
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def metrics(out: Path) -> list[dict[str, object]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_import_needs_nothing_and_the_cml_package_emulates_cdsw(run_python: Run) -> None:
    result = run_python(
        code(
            """
            import cdsw, cml, cml.utils_v1, cml.metrics_v1
            print(cdsw.__version__ == cml.__version__)
            print(cml.utils_v1._emulate_cdsw() is cdsw)
            print(cml.metrics_v1.track_metric is cdsw.track_metric)
            print(cdsw.__file__.endswith("cdsw/__init__.py"))
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 4
    assert result.stderr == ""


def test_track_metric_in_a_job_run_appends_json_lines(run_python: Run, tmp_path: Path) -> None:
    out = tmp_path / "run-output"
    result = run_python(
        code(
            """
            import cdsw, numpy as np
            from cml.metrics_v1 import track_metric
            cdsw.track_metric("accuracy", 0.93)
            cdsw.track_metric("solver", "lbfgs")
            track_metric("input_data", {"age": np.int64(37), "scores": np.array([1.5, 2.0])})
            track_metric("converged", np.bool_(True))
            """
        ),
        LAKEWORKS_OUTPUT_DIR=str(out),
    )
    assert result.returncode == 0, result.stderr
    recorded = metrics(out)
    assert [(m["key"], m["value"]) for m in recorded] == [
        ("accuracy", 0.93),
        ("solver", "lbfgs"),
        ("input_data", {"age": 37, "scores": [1.5, 2.0]}),
        ("converged", True),
    ]
    assert all(isinstance(m["timestamp_ms"], int) for m in recorded)


def test_a_metric_key_must_be_a_string(run_python: Run, tmp_path: Path) -> None:
    result = run_python(
        "import cdsw\ncdsw.track_metric(1, 2)\n", LAKEWORKS_OUTPUT_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "TypeError: metric key must be a string, not int" in result.stderr


def test_outside_a_job_run_tracking_is_a_noted_no_op(run_python: Run, project: Path) -> None:
    (project / "model.pkl").write_bytes(b"x")
    result = run_python(
        code(
            """
            import cdsw
            cdsw.track_metric("accuracy", 0.9)
            cdsw.track_metric("loss", 0.1)
            cdsw.track_file("model.pkl")
            print("carried on")
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "carried on"
    # One note, not one per call.
    assert result.stderr.count("recorded in job runs only") == 1


def test_track_file_copies_project_files_into_the_run_output(
    run_python: Run, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run-output"
    (project / "models").mkdir()
    (project / "models" / "model.pkl").write_bytes(b"weights")
    (project / "report.html").write_text("<p>report</p>")
    result = run_python(
        code(
            """
            import os, cdsw
            cdsw.track_file("report.html")
            os.chdir("models")
            cdsw.track_file("models/model.pkl")  # project-relative, whatever the cwd
            cdsw.track_file("missing.csv")
            print("carried on")
            """
        ),
        LAKEWORKS_OUTPUT_DIR=str(out),
    )
    assert result.returncode == 0, result.stderr
    assert (out / "files" / "report.html").read_text() == "<p>report</p>"
    assert (out / "files" / "models" / "model.pkl").read_bytes() == b"weights"
    assert "cdsw.track_file: no such file: missing.csv" in result.stderr
    assert result.stdout.strip() == "carried on"


def test_html_and_markdown_print_their_text_in_a_log(run_script: Run) -> None:
    result = run_script(
        code(
            """
            import cdsw
            cdsw.html("<b>done</b>")
            cdsw.markdown("**done**")
            cdsw.display({"rows": 3})
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["<b>done</b>", "**done**", "{'rows': 3}"]


def test_display_works_without_ipython_running(run_python: Run) -> None:
    result = run_python("import cdsw\ncdsw.html('<i>x</i>')\ncdsw.display('plain', 3)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["<i>x</i>", "plain", "3"]


def test_get_auth_uses_the_workload_key(run_python: Run) -> None:
    code_ = "import cml.utils_v1 as u\nprint(u.get_auth())\n"
    assert run_python(code_, CDSW_APIV2_KEY="k123").stdout.strip() == (
        "{'Authorization': 'Bearer k123'}"
    )
    assert run_python(code_).stdout.strip() == "{}"


class _Gateway(http.server.BaseHTTPRequestHandler):
    """A stand-in model gateway: answers JSON on kept-alive connections, counting them."""

    protocol_version = "HTTP/1.1"
    connections: set[object] = set()
    calls: list[dict[str, object]] = []
    close_after = 0  # end the connection silently after this many answers on it (0: never)

    def do_POST(self) -> None:
        self.connections.add(self.connection)  # held here, so each stays a distinct member
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append({"body": body, "auth": self.headers.get("Authorization")})
        refused = body["accessKey"] == "refused"
        answer = json.dumps(
            {"success": False, "errors": {"code": "auth.failed"}}
            if refused
            else {"success": True, "response": {"echo": body["request"]}}
        ).encode()
        self.send_response(403 if refused else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.answered = getattr(self, "answered", 0) + 1
        if self.close_after and self.answered >= self.close_after:
            self.close_connection = True  # no "Connection: close": as an idle timeout looks

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[int, type[_Gateway]]]:
    handler = type("Handler", (_Gateway,), {"connections": set(), "calls": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def socket_gateway(tmp_path: Path) -> Iterator[tuple[Path, type[_Gateway]]]:
    """The stand-in gateway on a Unix socket, as the server's ``local_socket``."""
    handler = type("Handler", (_Gateway,), {"connections": set(), "calls": []})
    path = tmp_path / "gateway.sock"
    server = socketserver.ThreadingUnixStreamServer(str(path), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path, handler
    server.shutdown()
    server.server_close()


CALLS = """
import json, socket, cdsw
looked_up = []
real = socket.getaddrinfo
def spy(host, *args, **kwargs):
    looked_up.append(host)
    return real(host, *args, **kwargs)
socket.getaddrinfo = spy
out = [cdsw.call_model("key", {"n": n}) for n in range(5)]
out.append(cdsw.call_model(model_access_key="refused", ipt={}, api_key="other"))
print(json.dumps({"out": out, "looked_up": looked_up}))
"""


# The public names do not resolve: a call that looked modelservice.<domain> up would fail.
UNRESOLVABLE = {
    "CDSW_DOMAIN": "ml.unresolvable.invalid",
    "CDSW_API_URL": "https://ml.unresolvable.invalid/api/v1",
    "CDSW_APIV2_KEY": "workload-key",
}


def _assert_answered(printed: dict[str, Any], handler: type[_Gateway]) -> None:
    """CALLS' six answers came back, each request sent once with its key, on one connection."""
    assert [o["response"]["echo"] for o in printed["out"][:5]] == [{"n": n} for n in range(5)]
    # Non-2xx answers with a JSON body come back as the body (compat §3.2).
    assert printed["out"][5] == {"success": False, "errors": {"code": "auth.failed"}}
    assert [c["auth"] for c in handler.calls] == ["Bearer workload-key"] * 5 + ["Bearer other"]
    assert len(handler.connections) == 1, "every call should reuse one kept-alive connection"


def test_call_model_keeps_one_connection_to_the_local_gateway_and_looks_up_no_name(
    run_python: Run, gateway: tuple[int, type[_Gateway]]
) -> None:
    port, handler = gateway
    result = run_python(
        CALLS, LAKEWORKS_MODEL_GATEWAY_URL=f"http://127.0.0.1:{port}/model", **UNRESOLVABLE
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    _assert_answered(printed, handler)
    assert printed["looked_up"] == ["127.0.0.1"]  # the connection's own; no modelservice.*
    assert handler.calls[0]["body"] == {"accessKey": "key", "request": {"n": 0}}


def test_call_model_reconnects_when_the_gateway_closed_the_idle_connection(
    run_python: Run, gateway: tuple[int, type[_Gateway]]
) -> None:
    port, handler = gateway
    handler.close_after = 2
    result = run_python(
        CALLS, LAKEWORKS_MODEL_GATEWAY_URL=f"http://127.0.0.1:{port}/model", CDSW_APIV2_KEY="k"
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["out"]) == 6
    assert len(handler.calls) == 6  # each request reached the gateway once
    assert len(handler.connections) == 3


def test_call_model_goes_over_the_gateway_socket_when_the_platform_gives_one(
    run_python: Run,
    gateway: tuple[int, type[_Gateway]],
    socket_gateway: tuple[Path, type[_Gateway]],
) -> None:
    port, over_tcp = gateway
    path, over_socket = socket_gateway
    result = run_python(
        CALLS,
        LAKEWORKS_MODEL_GATEWAY_SOCKET=str(path),
        LAKEWORKS_MODEL_GATEWAY_URL=f"http://127.0.0.1:{port}/model",
        **UNRESOLVABLE,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    _assert_answered(printed, over_socket)
    assert over_tcp.calls == []
    assert printed["looked_up"] == []  # not even the loopback's name


@pytest.mark.parametrize("socket_state", ["missing", "nobody listens"])
def test_call_model_uses_the_url_when_the_gateway_socket_cannot_be_reached(
    run_python: Run, gateway: tuple[int, type[_Gateway]], tmp_path: Path, socket_state: str
) -> None:
    port, over_tcp = gateway
    path = tmp_path / "gateway.sock"
    if socket_state == "nobody listens":  # a stopped server's socket file
        with socket.socket(socket.AF_UNIX) as stale:
            stale.bind(str(path))
    result = run_python(
        CALLS,
        LAKEWORKS_MODEL_GATEWAY_SOCKET=str(path),
        LAKEWORKS_MODEL_GATEWAY_URL=f"http://127.0.0.1:{port}/model",
        CDSW_APIV2_KEY="k",
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["out"]) == 6
    assert len(over_tcp.calls) == 6
    assert len(over_tcp.connections) == 1  # the socket is given up once, not tried each call

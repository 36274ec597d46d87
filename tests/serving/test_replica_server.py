"""The replica server on its own (the runtime's Python, no sandbox): the scorer generated for
registry builds (MLflow pyfunc, ``dataframe_split`` in, a list out, metrics on) and the
internal protocol the gateway reads."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ports import free_port
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.scheduler.test_every_python import ALL_PYTHONS, DEFAULT, OFFERED

from lakeworks.workload import site_dir

SAVE = """
import sys
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
mlflow.sklearn.save_model(model, sys.argv[1])
"""


@pytest.fixture
def mlflow_replica(tmp_path: Path) -> Iterator[str]:
    # The Standard edition's runtime (a Lean one, python3.11-lean-*, has no scikit-learn).
    pythons = sorted(
        p for p in RUNTIME_CACHE.glob("python3.11-*/bin/python") if "-lean-" not in str(p)
    )
    if not pythons:
        pytest.skip("no test runtime built")
    # Saved by the runtime's own MLflow and scikit-learn, as a registry version would be.
    subprocess.run(
        [str(pythons[-1]), "-c", SAVE, str(tmp_path / "mlflow_model")],
        check=True,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    with _replica(pythons[-1], tmp_path, {"LAKEWORKS_MODEL_MLFLOW_PATH": "mlflow_model"}) as (
        url,
        _,
    ):
        yield url


@contextlib.contextmanager
def _replica(
    python: Path, cwd: Path, model_env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A replica server (``python -m lakeworks_serving``) in ``cwd``, ready: (url, process)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "PYTHONPATH": str(site_dir()),
        "LAKEWORKS_REPLICA_PORT": str(port),
        **model_env,
    }
    proc = subprocess.Popen(
        [str(python), "-m", "lakeworks_serving"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=pass_fds,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the replica did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()  # nothing to do when it has exited already
        try:
            # Once over 10 s on a loaded 2-core machine (the PostgreSQL run beside the fuzzing).
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_registry_scorer_takes_dataframe_split_and_returns_a_list(mlflow_replica: str) -> None:
    request = {"dataframe_split": {"columns": ["x"], "data": [[0.0], [3.0]]}}
    response = httpx.post(
        f"{mlflow_replica}/predict",
        content=json.dumps(request),
        headers={"X-Lakeworks-Uuid": "5f0c1b9e-0000-4000-8000-000000000001"},
    )
    assert response.status_code == 200
    record_line, envelope = response.content.split(b"\n", 1)
    body = json.loads(envelope)
    assert body["success"] is True
    assert body["response"]["prediction"] == [0, 1]
    assert body["response"]["uuid"] == "5f0c1b9e-0000-4000-8000-000000000001"
    record = json.loads(record_line)
    assert record["uuid"] == body["response"]["uuid"]
    assert record["end_ms"] >= record["start_ms"]
    # The output is tracked, for the monitoring page's accuracy.
    assert record["metrics"]["prediction"] == [0, 1]

    records = {"dataframe_records": [{"x": 3.0}]}
    other = httpx.post(f"{mlflow_replica}/predict", content=json.dumps(records))
    one_line, one = other.content.split(b"\n", 1)
    assert json.loads(one)["response"]["prediction"] == [1]
    assert json.loads(one_line)["metrics"]["prediction"] == 1  # one row: its value

    bad = httpx.post(f"{mlflow_replica}/predict", content=json.dumps({"rows": []}))
    assert bad.status_code == 500
    error = json.loads(bad.content.split(b"\n", 1)[1])
    assert error["errors"]["code"] == "model.error"
    assert "dataframe_split" in error["errors"]["message"]


# One call at a time runs on the replica's event loop thread (no hand-off to a worker thread),
# more than one in a thread pool: either way the model's code sees no running loop, and a call
# past the timeout is answered 504 and ends the replica.
MODEL = """
import asyncio, time
from cml.models_v1 import cml_model

async def _double(x):
    await asyncio.sleep(0)
    return 2 * x

@cml_model(metrics=True)
def predict(args):
    if args.get("sleep"):
        time.sleep(args["sleep"])
    return {"doubled": asyncio.run(_double(args["x"]))}
"""


@pytest.fixture(params=["1", "2"], ids=["one-call-inline", "two-calls-in-threads"])
def file_replica(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    (tmp_path / "predict.py").write_text(MODEL)
    model_env = {
        "LAKEWORKS_MODEL_FILE": "predict.py",
        "LAKEWORKS_MODEL_FUNCTION": "predict",
        "LAKEWORKS_MODEL_TIMEOUT": "1",
        "LAKEWORKS_MODEL_CONCURRENCY": request.param,
    }
    with _replica(Path(sys.executable), tmp_path, model_env) as started:
        yield started


def _predict(url: str, request: dict[str, Any], uuid: str = "u-1") -> httpx.Response:
    return httpx.post(
        f"{url}/predict", json=request, headers={"X-Lakeworks-Uuid": uuid}, timeout=30
    )


def test_a_call_sees_no_running_loop_and_keeps_its_metrics_record(
    file_replica: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = file_replica
    for x in (1, 2, 3):
        answer = _predict(url, {"x": x}, uuid=f"u-{x}")
        assert answer.status_code == 200, answer.text
        record, envelope = answer.content.split(b"\n", 1)
        assert json.loads(envelope) == {
            "success": True,
            "response": {"uuid": f"u-{x}", "prediction": {"doubled": 2 * x}},
        }
        assert json.loads(record)["uuid"] == f"u-{x}"
    assert proc.poll() is None


def test_a_call_past_the_timeout_is_answered_504_and_the_replica_exits(
    file_replica: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = file_replica
    started = time.monotonic()
    answer = _predict(url, {"x": 1, "sleep": 30})
    assert answer.status_code == 504
    assert json.loads(answer.content.split(b"\n", 1)[1])["errors"]["code"] == "model.timeout"
    assert time.monotonic() - started < 10
    assert proc.wait(10) == 70  # a fresh replica takes its place (the platform's part)


# The executor binds a replica's socket through its directory's descriptor
# (``/proc/self/fd/N/<id>.sock``) and hands the socket over; in the replica, N is whatever it
# is there. Python 3.13's asyncio stats the bound name to clean it up later, so the replica
# must tell it not to (it failed to start where N was a file). Every offered Python.
SOCKET_MODEL = """
def predict(args):
    return {"doubled": 2 * args["x"]}
"""


@pytest.mark.parametrize("python", OFFERED)
def test_a_replica_serves_the_socket_the_executor_hands_it_on_every_python(
    python: str, tmp_path: Path
) -> None:
    found = sorted(
        p for p in RUNTIME_CACHE.glob(f"python{python}-*/bin/python") if "-lean-" not in str(p)
    )
    if not found:
        if python != DEFAULT and not ALL_PYTHONS:
            pytest.skip(f"Python {python}: set LAKEWORKS_TEST_ALL_PYTHONS=1 (as .ci/run does)")
        pytest.fail(f"no test runtime built for Python {python}")
    (tmp_path / "predict.py").write_text(SOCKET_MODEL)
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    directory = os.open(sockets, os.O_PATH | os.O_DIRECTORY)
    try:
        listener.bind(f"/proc/self/fd/{directory}/r.sock")
        listener.listen(16)
        # In the replica, the directory's number names a file.
        stand_in = os.open(tmp_path / "predict.py", os.O_RDONLY)
        os.dup2(stand_in, directory)
        os.close(stand_in)
        model_env = {
            "LAKEWORKS_MODEL_FILE": "predict.py",
            "LAKEWORKS_MODEL_FUNCTION": "predict",
            "LAKEWORKS_REPLICA_SOCKET_FD": str(listener.fileno()),
        }
        fds = (listener.fileno(), directory)
        with _replica(found[-1], tmp_path, model_env, pass_fds=fds) as (_, proc):
            listener.close()  # the replica's copy serves
            transport = httpx.HTTPTransport(uds=str(sockets / "r.sock"))
            with httpx.Client(transport=transport, base_url="http://replica") as client:
                answer = client.post(
                    "/predict", json={"x": 21}, headers={"X-Lakeworks-Uuid": "u-1"}
                )
            assert answer.status_code == 200, answer.text
            envelope = json.loads(answer.content.split(b"\n", 1)[1])
            assert envelope == {"success": True, "response": {"doubled": 42}}, envelope
            assert proc.poll() is None
    finally:
        listener.close()
        os.close(directory)

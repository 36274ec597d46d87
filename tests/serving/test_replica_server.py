"""The replica server on its own (the runtime's Python, no sandbox): the scorer generated for
registry builds (MLflow pyfunc, ``dataframe_split`` in, a list out, metrics on) and the
internal protocol the gateway reads."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.ports import free_port
from tests.scheduler.conftest import RUNTIME_CACHE

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
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(site_dir()),
        "LAKEWORKS_REPLICA_PORT": str(port),
        "LAKEWORKS_MODEL_MLFLOW_PATH": "mlflow_model",
    }
    proc = subprocess.Popen(
        [str(pythons[-1]), "-m", "lakeworks_serving"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
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

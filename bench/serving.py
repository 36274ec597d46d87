"""Model serving: Lakeworks' gateway vs `mlflow models serve` vs a bare FastAPI app.

One scikit-learn model (logistic regression on the telco churn data) served, in the same run on
this machine, by:

  (a) Lakeworks: the real server (uvicorn) with its gateway, authentication on (Bearer key) and
      metrics on (``@cml_model(metrics=True)``), 1 and 2 replicas; also one replica called
      directly (the "bare replica", no gateway);
  (b) ``mlflow models serve --env-manager local`` (MLflow 2.22.5);
  (c) a bare FastAPI + uvicorn (uvloop, httptools) predict app, as the limit.

Load comes from a separate process on loopback: N keep-alive connections, each sending one
request after another for a fixed time (a bounded asyncio client). Prints req/s, p50 and p99 per
target and concurrency (1, 8, 32) and the ratios the issue asks for; asserts nothing.

    uv run python bench/serving.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("LAKEWORKS_BENCH_CHURN", "/work/shared/data/telco-customer-churn.csv"))
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]
ROW = {"tenure": 3, "MonthlyCharges": 80.5, "SeniorCitizen": 0}

PREDICT = """
import pickle
from cml.models_v1 import cml_model

with open("model.pkl", "rb") as f:
    MODEL = pickle.load(f)
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]


@cml_model(metrics=True)
def predict(args):
    row = [[float(args[k]) for k in FEATURES]]
    return {"churn_probability": float(MODEL.predict_proba(row)[0][1])}
"""

FASTAPI_APP = """
import pickle, sys
from fastapi import FastAPI, Request
app = FastAPI()
with open("model.pkl", "rb") as f:
    MODEL = pickle.load(f)
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]

@app.post("/predict")
async def predict(request: Request):
    args = (await request.json())["request"]
    row = [[float(args[k]) for k in FEATURES]]
    probability = float(MODEL.predict_proba(row)[0][1])
    return {"success": True, "response": {"churn_probability": probability}}
"""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a competitor and everything it started (``mlflow models serve`` runs gunicorn
    workers that outlive a SIGTERM to their parent alone)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TRAIN = """
import pickle, sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
frame = pd.read_csv(sys.argv[1])
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]
model = LogisticRegression(max_iter=500).fit(
    frame[FEATURES].astype(float).to_numpy(), (frame["Churn"] == "Yes").astype(int)
)
sys.stdout.buffer.write(pickle.dumps(model))
"""


def train_in(python: Path) -> bytes:
    """The same model pickled by the runtime's scikit-learn (the replicas unpickle it there)."""
    return subprocess.run(
        [str(python), "-c", TRAIN, str(DATA)], capture_output=True, check=True
    ).stdout


def train(out: Path) -> Any:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(DATA)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    x = frame[FEATURES].astype(float).to_numpy()
    y = (frame["Churn"] == "Yes").astype(int)
    model = LogisticRegression(max_iter=500).fit(x, y)
    (out / "model.pkl").write_bytes(pickle.dumps(model))
    return model


# The load generator (runs in its own process) ---------------------------------------------


async def _connection(
    host: str, port: int, request: bytes, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head.split(b" ", 2)[1])
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def _load(url_host: str, port: int, request: bytes, conns: int, seconds: float, out: Any) -> None:
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *[_connection(url_host, port, request, until, latencies, errors) for _ in range(conns)]
        )

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    out.put((latencies, errors, elapsed))


def load(
    port: int, path: str, body: dict[str, Any], headers: dict[str, str], conns: int, seconds: float
) -> dict[str, float]:
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(payload)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    queue: Any = multiprocessing.get_context("spawn").Queue()
    warm = multiprocessing.get_context("spawn").Process(
        target=_load, args=("127.0.0.1", port, request, conns, 0.5, queue)
    )
    warm.start()
    queue.get()
    warm.join()
    proc = multiprocessing.get_context("spawn").Process(
        target=_load, args=("127.0.0.1", port, request, conns, seconds, queue)
    )
    proc.start()
    latencies, errors, elapsed = queue.get()
    proc.join()
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / elapsed,
        "p50": latencies[n // 2] * 1000 if n else float("nan"),
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "errors": len(errors),
    }


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


# Lakeworks --------------------------------------------------------------------------------


class Lakeworks:
    def __init__(self, work: Path, runtimes_dir: Path) -> None:
        import uvicorn

        from lakeworks.app import create_app
        from lakeworks.config import Settings
        from lakeworks.store.database import make_engine, upgrade
        from lakeworks.store.uow import Store

        self.port = free_port()
        data = work / "lakeworks"
        data.mkdir()
        settings = Settings(
            data_dir=data,
            secret_key=secrets.token_urlsafe(48),
            runtimes_dir=runtimes_dir,
            public_url=f"http://127.0.0.1:{self.port}",
            scheduler_tick_seconds=0.5,
            model_queue_seconds=30.0,
        )
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        self.app = create_app(settings, Store(engine))
        self.platform = self.app.state.platform
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", ws="none",
            loop="uvloop", http="httptools", access_log=False,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_port(self.port)

    def deploy(self, files: dict[str, bytes], replicas: int) -> tuple[str, str, str]:
        """(access key, API key, deployment id) of a deployed model."""
        from lakeworks.entities.models import DeploymentStatus
        from lakeworks.entities.users import ApiKeyKind
        from lakeworks.services import (
            auth,
            model_builds,
            model_deployments,
            models,
            projects,
            users,
        )
        from lakeworks.services.platform import Principal

        platform = self.platform
        with platform.read() as uow:
            user = uow.users.by_username("bench")
        if user is None:
            user = users.create_user(
                platform, None, username="bench", password=secrets.token_urlsafe(16),
                email="bench@example.org",
            )  # fmt: skip
        principal = Principal(user=user, via="cli")
        project = projects.create(
            platform, principal, name=f"Serving {replicas}", source=projects.parse_source("", "")
        )
        root = platform.settings.projects_dir / project.id
        for name, content in files.items():
            (root / name).write_bytes(content)
        model = models.create(platform, principal, project.id, models.ModelFields(name="churn"))
        build = model_builds.create(
            platform, principal, project.id, model.id,
            model_builds.BuildFields(file_path="predict.py", function_name="predict"),
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not model_builds.get(
            platform, principal, project.id, model.id, build.id
        ).status.is_final:
            assert time.monotonic() < deadline, "build did not finish"
            time.sleep(0.5)
        deployment = model_deployments.create(
            platform, principal, project.id, model.id, build.id,
            model_deployments.DeploymentFields(cpu=1, memory_mb=1024, replicas=replicas),
        )  # fmt: skip
        while (
            model_deployments.get(platform, principal, project.id, model.id, deployment.id).status
            is not DeploymentStatus.DEPLOYED
        ):
            assert time.monotonic() < deadline, "deployment did not become ready"
            time.sleep(0.5)
        key = auth.create_workload_key(platform, user, None, timedelta(hours=2), ApiKeyKind.V2)
        return models.access_key(platform, model), key.secret, deployment.id

    def replica_port(self, deployment_id: str) -> int:
        with self.platform.read() as uow:
            replica = uow.models.replicas_of(deployment_id)[0]
            workload = uow.workloads.get(replica.workload_id)
        return int(workload.address.rsplit(":", 1)[1])

    def metrics_written(self) -> Any:
        writer = self.app.state.metrics
        return getattr(writer, "stats", None)

    def close(self) -> None:
        from lakeworks.entities.workloads import WorkloadStatus

        # The server (and its reconciler, which replaces replicas that end) goes first.
        self.server.should_exit = True
        self.thread.join(timeout=30)
        with self.platform.read() as uow:
            live = uow.workloads.with_status(
                WorkloadStatus.STARTING, WorkloadStatus.RUNNING, WorkloadStatus.STOPPING
            )
        for workload in live:
            if workload.handle:
                self.platform.executor.stop(workload.handle, 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lakeworks-serving-bench-"))
    model = train(work)
    runtimes_dir = Path(args.runtimes_dir)
    pickled = train_in(next(runtimes_dir.glob("python3.11-*/bin/python")))
    results: dict[str, dict[int, dict[str, float]]] = {}
    procs: list[subprocess.Popen[bytes]] = []

    def measure(
        name: str, port: int, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        results[name] = {}
        for c in levels:
            results[name][c] = r = load(port, path, body, headers, c, args.seconds)
            print(f"  {name:<28} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50']:7.2f} ms  "
                  f"p99 {r['p99']:7.2f} ms  errors {r['errors']}", flush=True)  # fmt: skip

    try:
        # (c) bare FastAPI + uvicorn (uvloop, httptools)
        app_file = work / "fastapi_app.py"
        app_file.write_text(FASTAPI_APP)
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--port", str(port),
             "--loop", "uvloop", "--http", "httptools", "--no-access-log",
             "--log-level", "warning"],
            cwd=work, env=os.environ | {"PYTHONPATH": str(work)}, start_new_session=True,
        ))  # fmt: skip
        wait_port(port)
        print("(c) FastAPI + uvicorn (uvloop)", flush=True)
        measure("fastapi", port, "/predict", {"request": ROW}, {})
        stop(procs[-1])

        # (b) mlflow models serve
        import mlflow.sklearn

        mlflow_dir = work / "mlflow_model"
        mlflow.sklearn.save_model(model, str(mlflow_dir))
        port = free_port()
        # The server venv's MLflow (2.22.5, as the runtimes ship): the runtime's own `mlflow
        # models serve` fails on its newer FastAPI ("'FastAPI' object has no attribute 'route'").
        env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(mlflow_dir),
             "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))  # fmt: skip
        wait_port(port, 180)
        split = {"dataframe_split": {"columns": FEATURES, "data": [[ROW[k] for k in FEATURES]]}}
        print("(b) mlflow models serve", flush=True)
        measure("mlflow", port, "/invocations", split, {})
        stop(procs[-1])

        # (a) Lakeworks, auth and metrics on
        lw = Lakeworks(work, runtimes_dir)
        try:
            files = {"predict.py": PREDICT.encode(), "model.pkl": pickled}
            for replicas in (1, 2):
                key, api_key, deployment_id = lw.deploy(files, replicas)
                body = {"accessKey": key, "request": ROW}
                auth = {"Authorization": f"Bearer {api_key}"}
                print(
                    f"(a) Lakeworks gateway, {replicas} replica(s), auth + metrics on", flush=True
                )
                measure(f"lakeworks-{replicas}", lw.port, "/model", body, auth)
                if replicas == 1:
                    print("    the bare replica (no gateway)", flush=True)
                    measure("replica", lw.replica_port(deployment_id), "/predict", ROW, {})
            stats = lw.metrics_written()
            if stats is not None:
                print(f"metrics writer: {stats}", flush=True)
        finally:
            lw.close()
    finally:
        for proc in procs:
            stop(proc)

    print("\nRatios")
    for c in levels:
        a1, a2, b = results["lakeworks-1"][c], results["lakeworks-2"][c], results["mlflow"][c]
        f, rep = results["fastapi"][c], results["replica"][c]
        print(
            f"c={c:<3} lakeworks-1/mlflow {a1['rps'] / b['rps']:5.2f}x  "
            f"lakeworks-2/mlflow {a2['rps'] / b['rps']:5.2f}x  "
            f"lakeworks-1/fastapi {a1['rps'] / f['rps']:5.2f}x  "
            f"gateway p50 overhead {a1['p50'] - rep['p50']:+.2f} ms"
        )
    c8 = 8 if 8 in levels else levels[0]
    best = max(results["lakeworks-1"][c8]["rps"], results["lakeworks-2"][c8]["rps"])
    print(f"\nTarget (a) >= 1.5x (b) at c={c8}: {best / results['mlflow'][c8]['rps']:.2f}x")
    overhead = results["lakeworks-1"][levels[0]]["p50"] - results["replica"][levels[0]]["p50"]
    print(f"Target p50 within 1 ms of a bare replica (c={levels[0]}): {overhead:+.2f} ms")


if __name__ == "__main__":
    main()

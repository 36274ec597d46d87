"""Model serving: Lakeworks' gateway vs `mlflow models serve -w 1` vs a bare FastAPI app, doing
the same work.

One scikit-learn logistic regression on the telco churn data (three features), and the same
work per request in every contender: a one-row ``pandas.DataFrame`` of the three features, then
``predict_proba``. Served, at the same time on this machine, by:

  (a) Lakeworks: the real server (uvicorn configured as ``lakeworks server`` runs it) with its
      gateway, authentication on (Bearer key) and metrics on (``@cml_model(metrics=True)``),
      1 and 2 replicas; also one replica called directly (the "bare replica", no gateway:
      wrk runs in the replica's network namespace, as root, so no pasta relays the calls,
      as none relays the gateway's, which come over the replica's Unix socket), and through
      a byte pipe in its own process to that socket (the least any gateway process adds);
  (b) ``mlflow models serve -w 1 --env-manager local`` (MLflow's scoring server: uvicorn, one
      worker), the sklearn flavour saved with ``pyfunc_predict_fn="predict_proba"``: MLflow
      parses the ``dataframe_split`` body into the one-row DataFrame and calls predict_proba;
  (c) a bare FastAPI + uvicorn (one worker) app with the same predict function, as the limit.

Load comes from a separate process (``wrk``, one thread, N keep-alive connections; the
bounded asyncio client below when wrk is not installed). For each concurrency the contenders
take turns (A B C A B C ...) for ``--rounds`` rounds, so a busy machine slows them alike; each
round's ratio is printed, which shows the noise. Prints req/s, p50, p99; asserts nothing.

Also the server's background work during the load (the scheduler's ticks, the metrics
batches written: CPU and statements each, the work that shares the gateway's process). Then
``cdsw.call_model`` from a sandboxed job (300 calls one after another) next to the same
calls from an outside kept-alive ``http.client``, interleaved, and the goals of issue 17.

    uv run python bench/serving.py [--seconds 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import pickle
import re
import secrets
import shutil
import signal
import socket
import statistics
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

# The user code: the same predict body in Lakeworks and in the bare FastAPI app; MLflow's
# scoring server builds the same DataFrame from ``dataframe_split`` and calls the same method.
PREDICT_BODY = """
def predict(args):
    frame = pd.DataFrame([[args[k] for k in FEATURES]], columns=FEATURES)
    return {"churn_probability": float(MODEL.predict_proba(frame)[0][1])}
"""

PREDICT = (
    """
import pickle
import pandas as pd
from cml.models_v1 import cml_model

with open("model.pkl", "rb") as f:
    MODEL = pickle.load(f)
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]

@cml_model(metrics=True)"""
    + PREDICT_BODY
)

FASTAPI_APP = (
    """
import pickle
import pandas as pd
from fastapi import FastAPI, Request

app = FastAPI()
with open("model.pkl", "rb") as f:
    MODEL = pickle.load(f)
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]
"""
    + PREDICT_BODY
    + """
@app.post("/predict")
async def endpoint(request: Request):
    return {"success": True, "response": predict((await request.json())["request"])}
"""
)

CALLS = 300

# The least any gateway in its own process adds: a byte pipe (uvloop, like the server) from
# a port to the replica, nothing read or checked. Its overhead over the bare replica is the
# cost of the extra process hop on this machine.
PIPE = """
import asyncio, sys
import uvloop

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the load generator closed its connection
    finally:
        writer.close()

async def connect(client_reader, client_writer):
    reader, writer = await asyncio.open_unix_connection(sys.argv[2])
    await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))

async def main():
    server = await asyncio.start_server(connect, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

uvloop.run(main())
"""
# In a job (cdsw.call_model, as CML documents it) and outside (a kept-alive http.client).
IN_JOB = f"""
import os, time, cdsw
ROW = {ROW!r}
cdsw.call_model(os.environ["BENCH_KEY"], ROW)
took = []
for _ in range({CALLS}):
    started = time.perf_counter()
    answer = cdsw.call_model(os.environ["BENCH_KEY"], ROW)
    took.append(time.perf_counter() - started)
assert answer["success"], answer
took.sort()
print("P50", took[len(took) // 2] * 1000, "P99", took[int(len(took) * 0.99)] * 1000)
"""
OUTSIDE = f"""
import http.client, json, sys, time
port, key, api_key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = json.dumps({{"accessKey": key, "request": {ROW!r}}})
headers = {{"Content-Type": "application/json", "Authorization": "Bearer " + api_key}}
connection = http.client.HTTPConnection("127.0.0.1", port)
def call():
    connection.request("POST", "/model", body, headers)
    return json.loads(connection.getresponse().read())
call()
took = []
for _ in range({CALLS}):
    started = time.perf_counter()
    answer = call()
    took.append(time.perf_counter() - started)
assert answer["success"], answer
took.sort()
print("P50", took[len(took) // 2] * 1000, "P99", took[int(len(took) * 0.99)] * 1000)
"""


def p50_p99(text: str) -> tuple[float, float]:
    found = re.search(r"P50 ([0-9.]+) P99 ([0-9.]+)", text)
    assert found, text
    return float(found.group(1)), float(found.group(2))


MLFLOW_SAVE = """
mlflow.sklearn.save_model(model, path, pyfunc_predict_fn="predict_proba")
# served with: mlflow models serve -m path -w 1 --env-manager local
# body: {"dataframe_split": {"columns": FEATURES, "data": [[3, 80.5, 0]]}}
"""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a competitor and everything it started (``mlflow models serve`` runs a uvicorn
    that outlives a SIGTERM to its parent alone)."""
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


# Fitted on a DataFrame, so predict_proba on a one-row DataFrame checks the feature names.
TRAIN = """
import pickle, sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
frame = pd.read_csv(sys.argv[1])
FEATURES = ["tenure", "MonthlyCharges", "SeniorCitizen"]
model = LogisticRegression(max_iter=500).fit(
    frame[FEATURES].astype(float), (frame["Churn"] == "Yes").astype(int)
)
sys.stdout.buffer.write(pickle.dumps(model))
"""


def train_in(python: Path) -> bytes:
    """The model pickled by ``python``'s scikit-learn (each contender unpickles it with the
    scikit-learn that pickled it)."""
    return subprocess.run(
        [str(python), "-c", TRAIN, str(DATA)], capture_output=True, check=True
    ).stdout


# The load generators (each runs in its own process) ----------------------------------------


def wrk(port: int, path: str, payload: bytes, headers: dict[str, str], conns: int,
        seconds: float, netns: int | None = None) -> dict[str, float]:  # fmt: skip
    """req/s, p50, p99 (ms) and non-2xx answers from ``wrk -t1 -cN --latency`` (in the
    network namespace of process ``netns`` when given)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(payload.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    script.write_text("\n".join(lines) + "\n")
    try:
        enter = ["nsenter", f"--net=/proc/{netns}/ns/net", "--"] if netns else []
        out = subprocess.run(
            [*enter, "wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--latency", "-s", str(script),
             f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        script.unlink()

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    failed = (int(bad.group(1)) if bad else 0) + (1 if errors else 0)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": failed}


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
    port: int,
    path: str,
    payload: bytes,
    headers: dict[str, str],
    conns: int,
    seconds: float,
    netns: int | None = None,
) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk(port, path, payload, headers, conns, seconds, netns)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(payload)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    queue: Any = multiprocessing.get_context("spawn").Queue()
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

        from lakeworks import heap
        from lakeworks.app import create_app, server_config
        from lakeworks.config import Settings
        from lakeworks.serving import local_socket
        from lakeworks.store.database import make_engine, upgrade
        from lakeworks.store.uow import Store

        self.port = free_port()
        data = work / "lakeworks"
        data.mkdir()
        settings = Settings(
            data_dir=data,
            secret_key=secrets.token_urlsafe(48),
            runtimes_dir=runtimes_dir,
            port=self.port,
            public_url=f"http://127.0.0.1:{self.port}",
            model_queue_seconds=30.0,
        )
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        self.app = create_app(settings, Store(engine))
        self.platform = self.app.state.platform
        # As `lakeworks server` runs it (access log included), in a thread of this process:
        # the bench's main thread only waits on the load generator while it measures.
        config = server_config(self.app, settings)
        self.server = uvicorn.Server(config)
        sockets = [config.bind_socket(), local_socket.bind(settings)]  # as `lakeworks server`
        heap.freeze()  # as `lakeworks server` before it serves
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": sockets}, daemon=True
        )
        self.thread.start()
        wait_port(self.port)
        # The access log is formatted and written as in production, to /dev/null here.
        for handler in logging.getLogger("uvicorn.access").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115

    def runtime_python(self) -> Path:
        runtimes = self.platform.runtimes
        return runtimes.path_for(runtimes.default_python()) / "bin" / "python"

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
        self.last: tuple[Any, str] = (principal, project.id)
        return models.access_key(platform, model), key.secret, deployment.id

    def run_job(self, where: tuple[Any, str], script: str, env: dict[str, str]) -> str:
        """Run ``script`` as a job in project ``where`` (principal, project id); its log."""
        from lakeworks.entities.jobs import RunStatus
        from lakeworks.services import job_runs, jobs

        principal, project_id = where
        (self.platform.settings.projects_dir / project_id / "calls.py").write_text(script)
        job = jobs.create(
            self.platform, principal, project_id,
            jobs.JobFields(name="calls", script="calls.py", environment=env),
        )  # fmt: skip
        run = job_runs.trigger(self.platform, principal, project_id, job.id)
        deadline = time.monotonic() + 300
        while not run.status.is_final:
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
            run = job_runs.get_run(self.platform, principal, project_id, job.id, run.id)
        text = job_runs.run_log(self.platform, principal, project_id, job.id, run.id)[0].decode()
        assert run.status is RunStatus.SUCCEEDED, text
        return text

    def replica_endpoints(self, deployment_id: str) -> tuple[int, int | None, str]:
        """(port, the pid whose network namespace the replica listens in or None, its Unix
        socket) of the deployment's first replica. The namespace is entered only as root
        (else the port is called through pasta, which the gateway's calls skip)."""
        with self.platform.read() as uow:
            replica = uow.models.replicas_of(deployment_id)[0]
            workload = uow.workloads.get(replica.workload_id)
        netns = workload.handle.get("netns_pid") if os.geteuid() == 0 else None
        socket_path = workload.handle.get("socket", "")
        assert socket_path, "the replica has no Unix socket"
        return int(workload.address.rsplit(":", 1)[1]), netns, socket_path

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


class CostMeter:
    """What the server's background work costs while the load runs: each call of
    ``owner.name`` (the scheduler's tick, once a second; a metrics batch written, a few times
    a second), the CPU its thread spends in it and the statements it sends. This work shares
    the server's process, and its interpreter lock, with the gateway's event loop."""

    def __init__(self, owner: Any, name: str, engine: Any) -> None:
        from sqlalchemy import event

        self.cpu_ms: list[float] = []
        self.statements: list[int] = []
        self._counting = threading.local()
        self._started = time.monotonic()
        self.seconds = 0.0
        call = getattr(owner, name)

        def measured(*args: Any, **kwargs: Any) -> Any:
            self._counting.n = 0
            start = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.cpu_ms.append((time.thread_time() - start) * 1000)
                self.statements.append(self._counting.n)
                self._counting.n = None

        def count(*_: Any) -> None:
            if getattr(self._counting, "n", None) is not None:
                self._counting.n += 1

        event.listen(engine, "before_cursor_execute", count)
        setattr(owner, name, measured)

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._started

    def report(self) -> str:
        if not self.cpu_ms:
            return "none"
        cpu = sorted(self.cpu_ms)
        return (
            f"{len(cpu)} in {self.seconds:.0f} s, CPU p50 {statistics.median(cpu):.1f} ms "
            f"p99 {cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))]:.1f} ms, "
            f"{sum(cpu) / max(self.seconds, 1e-9):.1f} ms a second; "
            f"statements p50 {statistics.median(self.statements):g}"
        )


def add_run_arguments(parser: argparse.ArgumentParser, *, rounds: int) -> None:
    """The options every serving bench takes: measurement length, rounds, runtimes cache."""
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, rounds=2)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lakeworks-serving-bench-"))
    print("User code, Lakeworks (predict.py):" + PREDICT)
    print("User code, bare FastAPI:" + FASTAPI_APP)
    print("MLflow (sklearn flavour):" + MLFLOW_SAVE)
    print(f"load: {'wrk -t1' if shutil.which('wrk') else 'asyncio client'}, "
          f"{args.seconds:g}s a measurement, {args.rounds} round(s), interleaved\n",
          flush=True)  # fmt: skip
    (work / "model.pkl").write_bytes(train_in(Path(sys.executable)))
    procs: list[subprocess.Popen[bytes]] = []
    # name -> (port, path, body, headers)
    targets: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}
    namespaces: dict[str, int | None] = {}  # name -> load from this pid's network namespace
    lw: Lakeworks | None = None
    in_workload: list[tuple[float, float]] = []
    try:
        (work / "fastapi_app.py").write_text(FASTAPI_APP)
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--port", str(port),
             "--workers", "1", "--no-access-log", "--log-level", "warning"],
            cwd=work, env=os.environ | {"PYTHONPATH": str(work)}, start_new_session=True,
        ))  # fmt: skip
        targets["fastapi"] = (port, "/predict", json.dumps({"request": ROW}).encode(), {})

        import mlflow.sklearn

        mlflow_dir = work / "mlflow_model"
        model = pickle.loads((work / "model.pkl").read_bytes())
        mlflow.sklearn.save_model(model, str(mlflow_dir), pyfunc_predict_fn="predict_proba")
        port = free_port()
        # The server venv's MLflow: the runtime's own `mlflow models serve` fails on its newer
        # FastAPI ("'FastAPI' object has no attribute 'route'").
        env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(mlflow_dir),
             "-w", "1", "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))  # fmt: skip
        split = {"dataframe_split": {"columns": FEATURES, "data": [[ROW[k] for k in FEATURES]]}}
        targets["mlflow"] = (port, "/invocations", json.dumps(split).encode(), {})

        lw = Lakeworks(work, Path(args.runtimes_dir))
        files = {"predict.py": PREDICT.encode(), "model.pkl": train_in(lw.runtime_python())}
        for replicas in (1, 2):
            key, api_key, deployment_id = lw.deploy(files, replicas)
            body = json.dumps({"accessKey": key, "request": ROW}).encode()
            auth = {"Authorization": f"Bearer {api_key}"}
            targets[f"lakeworks-{replicas}"] = (lw.port, "/model", body, auth)
            if replicas == 1:
                call_keys = (key, api_key, lw.last)
                replica_port, netns, replica_socket = lw.replica_endpoints(deployment_id)
                targets["replica"] = (replica_port, "/predict", json.dumps(ROW).encode(), {})
                namespaces["replica"] = netns
                port = free_port()
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", PIPE, str(port), replica_socket],
                    start_new_session=True,
                ))  # fmt: skip
                targets["pipe"] = (port, "/predict", json.dumps(ROW).encode(), {})
        for port, *_ in targets.values():
            wait_port(port, 180)
        for name, (port, path, body, headers) in targets.items():  # warm up; check the answer
            first = load(port, path, body, headers, 1, 1.0, namespaces.get(name))
            if first["errors"]:
                raise SystemExit(f"{name} answered errors: {first}")

        if namespaces.get("replica") is None:
            print(
                "note: the bare replica is called through pasta (not root, or no network "
                "namespace): it includes a relay the gateway's calls skip\n",
                flush=True,
            )
        engine = lw.platform.store.engine
        ticks = CostMeter(lw.app.state.scheduler, "tick", engine)
        batches = CostMeter(lw.app.state.metrics, "_write", engine)
        results: dict[str, dict[int, list[dict[str, float]]]] = {n: {} for n in targets}
        print("target          c    round      req/s      p50 ms     p99 ms  errors", flush=True)
        for c in levels:
            for round_ in range(args.rounds):
                for name, (port, path, body, headers) in targets.items():
                    r = load(port, path, body, headers, c, args.seconds, namespaces.get(name))
                    results[name].setdefault(c, []).append(r)
                    print(f"{name:<15} {c:<4} {round_ + 1:<5} {r['rps']:10.0f} {r['p50']:11.2f} "
                          f"{r['p99']:10.2f}  {r['errors']:6d}", flush=True)  # fmt: skip
        ticks.stop()
        batches.stop()
        print("\nthe server's background work during the load (in its process, beside the loop)")
        print(f"  scheduler ticks (two deployed models): {ticks.report()}")
        print(f"  metrics batches written: {batches.report()}", flush=True)
        print(f"\ncdsw.call_model in a job vs an outside kept-alive client ({CALLS} calls, "
              "one at a time, lakeworks-1; interleaved)", flush=True)  # fmt: skip
        key1, api_key1, where = call_keys
        for round_ in range(args.rounds):
            outside = subprocess.run(
                [sys.executable, "-c", OUTSIDE, str(lw.port), key1, api_key1],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            inside = lw.run_job(where, IN_JOB, {"BENCH_KEY": key1})
            (o50, o99), (i50, i99) = p50_p99(outside), p50_p99(inside)
            in_workload.append((i50, o50))
            print(f"  round {round_ + 1}: in a job p50 {i50:.2f} ms p99 {i99:.2f} ms; outside "
                  f"p50 {o50:.2f} ms p99 {o99:.2f} ms; difference {i50 - o50:+.2f} ms",
                  flush=True)  # fmt: skip
        stats = lw.metrics_written()
        if stats is not None:
            print(f"metrics writer: {stats}", flush=True)
    finally:
        if lw is not None:
            lw.close()
        for proc in procs:
            stop(proc)

    def ratio(a: str, b: str, c: int, key: str = "rps") -> list[float]:
        return [x[key] / y[key] for x, y in zip(results[a][c], results[b][c], strict=True)]

    def overhead(c: int, over: str = "lakeworks-1", key: str = "p50") -> list[float]:
        pairs = zip(results[over][c], results["replica"][c], strict=True)
        return [x[key] - y[key] for x, y in pairs]

    def show(values: list[float]) -> str:
        return " ".join(f"{v:5.2f}x" for v in values)

    print("\nRatios per round (req/s; p99 of Lakeworks-1 over MLflow's: below 1 is better)")
    for c in levels:
        added = overhead(c)
        print(
            f"c={c:<3} lakeworks-1/mlflow {show(ratio('lakeworks-1', 'mlflow', c))}  "
            f"lakeworks-2/mlflow {show(ratio('lakeworks-2', 'mlflow', c))}  "
            f"fastapi/mlflow {show(ratio('fastapi', 'mlflow', c))}  "
            f"p99 lakeworks-1/mlflow {show(ratio('lakeworks-1', 'mlflow', c, 'p99'))}  "
            f"gateway p50 overhead {' '.join(f'{o:+.2f}' for o in added)} ms"
        )
        for name, key in (("lakeworks-1", "p99"), ("pipe", "p50"), ("pipe", "p99")):
            print(f"      {name} {key} over the bare replica's "
                  f"{' '.join(f'{o:+.2f}' for o in overhead(c, name, key))} ms")  # fmt: skip
    median = statistics.median
    print("\nGoals (median of the rounds)")
    for c in levels:
        print(f"  1 replica >= 1.0x mlflow at c={c}: "
              f"{median(ratio('lakeworks-1', 'mlflow', c)):.2f}x, p99 "
              f"{median(r['p99'] for r in results['lakeworks-1'][c]):.1f} ms vs "
              f"{median(r['p99'] for r in results['mlflow'][c]):.1f} ms")  # fmt: skip
    if 8 in levels:
        print(f"  2 replicas >= 1.8x mlflow at c=8: "
              f"{median(ratio('lakeworks-2', 'mlflow', 8)):.2f}x")  # fmt: skip
    gateway_p50 = median(overhead(levels[0]))
    print(f"  gateway p50 overhead over a bare replica <= 0.5 ms at c={levels[0]}: "
          f"{gateway_p50:+.2f} ms")  # fmt: skip
    if in_workload:
        difference = median(i - o for i, o in in_workload)
        print(f"  cdsw.call_model p50 within 2 ms of an outside kept-alive client: "
              f"{difference:+.2f} ms")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

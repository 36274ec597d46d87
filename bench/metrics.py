"""Model metrics store: ingestion through the batched writer, and ``read_metrics`` over 100k
records, on SQLite and (when reachable) PostgreSQL.

- Ingestion: N prediction records plus N gateway request samples submitted to
  ``MetricsWriter`` (what the gateway does), timed until all are stored, next to the naive
  competitor: one transaction per record.
- A batch's cost once the table holds those N: the CPU of writing 250 predictions and 250
  samples in one batch with the gateway's time-ordered prediction uuids (UUIDv7) and with
  random ones (uuid4, what the gateway gave before), interleaved.
- ``read_metrics``: 100k records of one deployment read through the API
  (``POST /api/v2/modelmetrics/read`` on a real uvicorn server), through the in-workload
  library (``cml.metrics_v1.read_metrics`` in the test runtime's Python, when built), and the
  naive competitor: load and JSON-encode every record one by one.

Prints figures and ratios; asserts nothing.

    uv run python bench/metrics.py [--records 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lakeworks.app import create_app
from lakeworks.config import Settings
from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.models import crn
from lakeworks.entities.users import ApiKeyKind
from lakeworks.metrics.queries import record_json
from lakeworks.metrics.writer import MetricsWriter
from lakeworks.runtimes.builder import workload_env
from lakeworks.services import auth, model_metrics, projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.serving.gateway import new_prediction_uuid
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.uow import Store

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LIBRARY_READ = """
import json, os, sys, time
from cml.metrics_v1 import read_metrics
t0 = time.perf_counter()
out = read_metrics(model_deployment_crn=os.environ["CRN"])
print(json.dumps({"seconds": time.perf_counter() - t0, "records": len(out["metrics"])}))
"""


def setup(store: Store, settings: Settings) -> tuple[Platform, Principal, dict[str, str]]:
    platform = Platform(settings, store)
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    user = users.create_user(platform, None, username="bench", password="correct horse battery")
    principal = Principal(user=user, via="cli")
    project = projects.create(
        platform, principal, name="Bench", source=projects.parse_source("blank", "")
    )
    ids = {"model": str(uuid.uuid4()), "build": str(uuid.uuid4()), "deployment": str(uuid.uuid4())}
    with store.transaction() as uow:
        uow.models.add(
            id=ids["model"],
            project_id=project.id,
            name="bench",
            description="",
            auth_enabled=True,
            access_key_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
            access_key_sealed="",
            creator_id=user.id,
            registered_model_id="",
        )
        uow.models.add_build(
            id=ids["build"],
            model_id=ids["model"],
            project_id=project.id,
            creator_id=user.id,
            status="built",
            examples=[],
        )
        uow.models.add_deployment(
            id=ids["deployment"],
            model_id=ids["model"],
            build_id=ids["build"],
            project_id=project.id,
            deployer_id=user.id,
            status="deployed",
            environment={},
        )
    ids["project"] = project.id
    return platform, principal, ids


def record(
    ids: dict[str, str], i: int, new_uuid: Callable[[], str] = new_prediction_uuid
) -> PredictionRecord:
    start = 1_700_000_000_000 + i
    return PredictionRecord(
        ids["deployment"],
        ids["build"],
        ids["model"],
        new_uuid(),
        start,
        start + 7,
        {"prediction": i % 2, "probability": (i % 100) / 100, "input_data": {"age": i % 90}},
    )


def ingest(store: Store, ids: dict[str, str], n: int) -> dict[str, float]:
    writer = MetricsWriter(store, max_queue=2 * n + 10)
    writer.start()
    t0 = time.perf_counter()
    for i in range(n):
        writer.submit_prediction(record(ids, i))
        writer.submit_request(
            RequestSample(ids["model"], ids["deployment"], "r1", 1_700_000_000_000 + i, 3.0, 200)
        )
    submitted = time.perf_counter() - t0
    writer.flush(timeout=600)
    stored = time.perf_counter() - t0
    writer.stop()
    assert writer.stats.dropped == 0 and writer.stats.failed == 0, writer.stats
    # Competitor: one transaction per record.
    naive_n = min(2_000, n)
    t1 = time.perf_counter()
    for i in range(naive_n):
        with store.transaction() as uow:
            uow.model_metrics.add_predictions([record(ids, n + i)])
    naive = time.perf_counter() - t1
    return {
        "records": 2 * n,
        "submit_us": submitted / (2 * n) * 1e6,
        "writer_rps": 2 * n / stored,
        "naive_rps": naive_n / naive,
        "batches": writer.stats.batches,
    }


def batch_cost(
    store: Store, ids: dict[str, str], n: int, rounds: int = 30
) -> dict[str, tuple[list[float], list[float]]]:
    """(CPU ms in this process, wall ms) of one batch of 250 predictions and 250 samples, by
    kind of prediction uuid. On PostgreSQL the index work is the database server's: wall."""
    writer = MetricsWriter(store)  # not started: batches are written here, one at a time
    kinds: dict[str, Callable[[], str]] = {
        "time-ordered": new_prediction_uuid,
        "random": lambda: str(uuid.uuid4()),
    }
    # The table already holds the ingestion's time-ordered uuids; give the random ones as many
    # (else they would land in a near-empty part of the index), then time both, interleaved.
    prefill = MetricsWriter(store, max_queue=n + 10)
    for i in range(n):
        prefill.submit_prediction(record(ids, 5_000_000 + i, kinds["random"]))
    prefill.flush(timeout=600)
    cost: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in kinds}
    for i in range(rounds):
        for name, new_uuid in kinds.items():
            base = 10_000_000 + i * 1_000
            items: list[PredictionRecord | RequestSample] = []
            for j in range(250):
                items.append(record(ids, base + j, new_uuid))
                items.append(
                    RequestSample(ids["model"], ids["deployment"], "r1", base + j, 3.0, 200)
                )
            start, wall = time.thread_time(), time.perf_counter()
            writer._write(items)  # the batch as the writer's thread writes it
            cost[name][0].append((time.thread_time() - start) * 1000)
            cost[name][1].append((time.perf_counter() - wall) * 1000)
    return cost


def serve(settings: Settings, store: Store) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings.model_copy(update={"public_url": url}), store)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return url, server, thread


def reads(
    store: Store,
    settings: Settings,
    platform: Platform,
    principal: Principal,
    ids: dict[str, str],
    runtime_python: Path | None,
) -> dict[str, float]:
    url, server, thread = serve(settings, store)
    key = auth.create_workload_key(
        platform, principal.user, ids["project"], timedelta(hours=1), ApiKeyKind.V2
    )
    headers = {"Authorization": f"Bearer {key.secret}"}
    out: dict[str, float] = {}
    try:
        body = {"model_deployment_crn": crn(ids["deployment"])}
        with httpx.Client(timeout=600) as client:
            client.post(url + "/api/v2/modelmetrics/read", json=body, headers=headers)  # warm
            t0 = time.perf_counter()
            response = client.post(url + "/api/v2/modelmetrics/read", json=body, headers=headers)
            out["api_s"] = time.perf_counter() - t0
            out["api_records"] = len(response.json()["metrics"])
            out["api_mb"] = len(response.content) / 1e6
        if runtime_python is not None:
            env = workload_env(runtime_python.parent.parent, settings.data_dir)
            env.update(
                {
                    "CDSW_API_URL": url + "/api/v1",
                    "CDSW_APIV2_KEY": key.secret,
                    "CRN": crn(ids["deployment"]),
                }
            )
            done = subprocess.run(
                [str(runtime_python), "-c", LIBRARY_READ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            out["library_s"] = result["seconds"]
            out["library_records"] = result["records"]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    # The monitoring page's aggregates over the same records (capped at the newest 50k).
    t0 = time.perf_counter()
    view = model_metrics.monitoring(
        platform, principal, ids["model"], window="15m", end_ms=1_700_000_000_000 + 600_000
    )
    out["monitoring_s"] = time.perf_counter() - t0
    out["monitoring_records"] = view.records_in_window
    # Competitor: load records and JSON-encode each one as a dict.
    t0 = time.perf_counter()
    with store.transaction() as uow:
        records = uow.model_metrics.read(deployment_id=ids["deployment"])
    json.dumps({"metrics": [record_json(r) for r in records]})
    out["naive_s"] = time.perf_counter() - t0
    return out


def run_backend(name: str, url: str, data: Path, n: int, runtime_python: Path | None) -> None:
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    settings = Settings(
        data_dir=data / name,
        database_url=url,
        secret_key=secrets.token_urlsafe(48),
        scheduler_enabled=False,
    )
    platform, principal, ids = setup(store, settings)
    ing = ingest(store, ids, n)
    print(
        f"[{name}] ingestion: {ing['records']:,} records (predictions + request samples) in "
        f"{ing['batches']:.0f} batches: {ing['writer_rps']:,.0f} records/s stored; "
        f"submit {ing['submit_us']:.1f} µs/record on the request path"
    )
    print(
        f"[{name}] competitor, one transaction per record: {ing['naive_rps']:,.0f} records/s "
        f"-> batched writer is {ing['writer_rps'] / ing['naive_rps']:.1f}x faster"
    )
    for kind, (cpu, wall) in batch_cost(store, ids, n).items():
        print(
            f"[{name}] a writer's batch of 250 predictions + 250 samples on a table of {2 * n:,}+, "
            f"{kind} prediction uuids ({len(cpu)} batches): CPU in this process p50 "
            f"{statistics.median(cpu):.2f} ms, max {max(cpu):.2f}; wall p50 "
            f"{statistics.median(wall):.2f} ms, max {max(wall):.2f}"
        )
    r = reads(store, settings, platform, principal, ids, runtime_python)
    print(
        f"[{name}] read_metrics via API: {r['api_records']:,.0f} records "
        f"({r['api_mb']:.1f} MB) in {r['api_s']:.2f} s"
    )
    if "library_s" in r:
        print(
            f"[{name}] read_metrics via cml.metrics_v1 in the runtime: "
            f"{r['library_records']:,.0f} records in {r['library_s']:.2f} s"
        )
    print(
        f"[{name}] monitoring aggregates (requests, p50/p95, a metric, accuracy) over "
        f"{r['monitoring_records']:,.0f} records: {r['monitoring_s']:.2f} s"
    )
    print(
        f"[{name}] competitor, decode + encode per record (no HTTP): {r['naive_s']:.2f} s "
        f"-> the API path, HTTP included, is {r['naive_s'] / r['api_s']:.2f}x as fast"
    )
    store.dispose()


def postgres_schema(base: str) -> tuple[str, str] | None:
    try:
        engine = make_engine(base)
        schema = f"lwbench_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    except Exception as exc:
        print(f"[postgresql] skipped: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        return None
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("LAKEWORKS_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )
    args = parser.parse_args()
    runtime_python = next(
        iter(sorted(Path(args.runtimes_dir).glob("python3.11-*/bin/python"))), None
    )
    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-metrics-"))
    run_backend("sqlite", f"sqlite:///{data / 'bench.db'}", data, args.records, runtime_python)
    if args.postgres:
        found = postgres_schema(args.postgres)
        if found is not None:
            url, schema = found
            try:
                run_backend("postgresql", url, data, args.records, runtime_python)
            finally:
                engine = make_engine(args.postgres)
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                engine.dispose()


if __name__ == "__main__":
    main()

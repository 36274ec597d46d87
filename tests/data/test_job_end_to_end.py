"""A real job in a real sandboxed workload: ``cml.data_v1.get_connection("iceberg")``, create a
table, append two batches, read back with time travel and ``incremental_append_scan`` between
the two snapshots; the server's API v2 then lists the table and both snapshots. Another
project's warehouse is not visible inside the workload."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.tracking.live import LiveServer, live_server
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import auth, data_catalog, job_runs, jobs, projects, users
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Principal
from lakeworks.store.uow import Store

PIPELINE = """
import os
import pyarrow as pa
import cml.data_v1 as cmldata

catalog = cmldata.get_connection("iceberg").get_catalog()
schema = pa.schema([("batch", pa.int64()), ("amount", pa.float64())])
table = catalog.create_table("default.transactions", schema)
table.append(pa.table({"batch": [1, 1, 1], "amount": [1.0, 2.0, 3.0]}, schema=schema))
first = table.current_snapshot().snapshot_id
table.append(pa.table({"batch": [2, 2], "amount": [4.0, 5.0]}, schema=schema))
second = table.current_snapshot().snapshot_id

table = catalog.load_table("default.transactions")
print("SNAPSHOTS", first, second)
print("TIME_TRAVEL", table.scan(snapshot_id=first).to_arrow().num_rows)
print("NOW", table.scan().to_arrow().num_rows)
new = cmldata.incremental_append_scan(table, first, second)
print("INCREMENTAL", sorted(new.column("batch").to_pylist()))
print("IN_WAREHOUSE", table.location().startswith("file://" + os.environ["LAKEWORKS_WAREHOUSE"]))
print("OTHER_VISIBLE", os.path.exists(os.environ["OTHER_WAREHOUSE"]))
try:
    cmldata.get_connection("no_such_connection")
except cmldata.ConnectionNotFound as exc:
    print("UNKNOWN", exc)
"""


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[LiveServer]:
    with live_server(settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE}), store) as srv:
        try:
            yield srv
        finally:
            stop_live_workloads(srv.platform)


@pytest.mark.timeout(900)
def test_a_job_writes_and_reads_an_iceberg_table(server: LiveServer) -> None:
    platform = server.platform
    alice = users.create_user(platform, None, username="alice", password="correct horse battery")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Pipeline", source=projects.parse_source("", "")
    )
    other = projects.create(platform, principal, name="Other", source=projects.parse_source("", ""))
    data_catalog.create_table(
        platform, principal, other.id, "default.elsewhere", pa.schema([("x", pa.int64())])
    )
    other_warehouse = platform.iceberg.warehouse(other.id)
    assert other_warehouse.is_dir()
    (platform.settings.projects_dir / project.id / "pipeline.py").write_text(PIPELINE)
    job = jobs.create(
        platform,
        principal,
        project.id,
        JobFields(
            name="pipeline",
            script="pipeline.py",
            memory_mb=2048,
            environment={"OTHER_WAREHOUSE": str(other_warehouse)},
        ),
    )
    run = job_runs.trigger(platform, principal, project.id, job.id)
    scheduler = Scheduler(platform)
    deadline = time.monotonic() + 600
    try:
        while True:
            scheduler.tick(wait=True)
            current = job_runs.get_run(platform, principal, project.id, job.id, run.id)
            if current.status.is_final:
                break
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.3)
    finally:
        scheduler.stop()
    log = job_runs.run_log(platform, principal, project.id, job.id, run.id)[0].decode()
    assert current.status is RunStatus.SUCCEEDED, log[-4000:]
    first, second = log.split("SNAPSHOTS ")[1].split()[:2]
    assert "TIME_TRAVEL 3" in log
    assert "NOW 5" in log
    assert "INCREMENTAL [2, 2]" in log
    assert "IN_WAREHOUSE True" in log
    assert "OTHER_VISIBLE False" in log
    assert "UNKNOWN There is no data connection named 'no_such_connection'" in log
    assert "Connections: iceberg, spark" in log

    key = auth.create_api_key(platform, principal, "alice").secret
    with httpx.Client(
        base_url=f"{server.url}/api/v2", headers={"Authorization": f"Bearer {key}"}
    ) as api:
        tables = api.get(f"/projects/{project.id}/data/tables").json()["tables"]
        assert [t["identifier"] for t in tables] == ["default.transactions"]
        snapshots = api.get(
            f"/projects/{project.id}/data/tables/default.transactions/snapshots"
        ).json()
    assert [s["snapshot_id"] for s in snapshots["snapshots"]] == [first, second]
    assert snapshots["current_snapshot_id"] == second
    # The files the workload wrote are its project's uid's, in its warehouse.
    warehouse = platform.iceberg.warehouse(project.id)
    assert list((warehouse / "default.db" / "transactions" / "data").glob("*.parquet"))

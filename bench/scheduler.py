"""Scheduler benchmark: 10,000 cron jobs due in the same minute.

Measures fire jitter (a run's creation time minus the fire time it was due at) and the
dispatch rate (runs claimed and started per second) with a no-op executor, on the embedded
default store (SQLite in WAL mode) or ``--database-url``. Prints the figures; asserts nothing.

    uv run python bench/scheduler.py [--jobs 10000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import cProfile
import secrets
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, func, select

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors.base import Executor, Handle
from lakeworks.scheduler.loop import START_BATCH, Scheduler
from lakeworks.services import environment, job_runs, projects, users
from lakeworks.services.ids import public_id
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.tables import JobRow, JobRunRow, utcnow
from lakeworks.store.uow import Store


class NoopExecutor(Executor):
    """Starts nothing: measures the platform's own cost."""

    name = "noop"

    def start(self, spec: WorkloadSpec) -> Handle:
        return {"id": spec.workload_id}

    def poll(self, handle: Handle) -> ExitInfo | None:
        return ExitInfo(code=0)

    def stop(self, handle: Handle, grace: float = 10.0) -> None:
        return None

    def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        return b"", offset

    def address(self, handle: Handle) -> str:
        return ""

    def adopt(self, handle: Handle) -> bool:
        return True


class NoopRuntime:
    """No interpreter to resolve: the no-op executor runs nothing."""

    directory = Path("/nonexistent")
    ro_binds: list[Path] = []

    def env(self, project_home: str, **_: object) -> dict[str, str]:
        return {}

    def command(self, script: str, arguments: str) -> list[str]:
        return ["true"]


STARTERS = 4  # the scheduler's starter threads (``Scheduler(starters=4)``)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", default="", help="write a cProfile of the dispatch here")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    settings = Settings(
        data_dir=data,
        database_url=args.database_url,
        secret_key=secrets.token_urlsafe(48),
        scheduler_enabled=False,
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    store = Store(engine)
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings, store, executor=NoopExecutor())
    user = users.create_user(platform, None, username="bench", password="a long dispatch secret 1")
    with store.transaction() as uow:
        uow.workloads.set_quota(user.id, 1e9, 10**12)
    principal = Principal(user=user, via="cli")
    project = projects.create(
        platform, principal, name="Bench", source=projects.parse_source("", "")
    )
    (settings.projects_dir / project.id / "noop.sh").write_text("true\n")

    print(f"creating {args.jobs} cron jobs on {engine.dialect.name} ...", flush=True)
    now = utcnow()
    with store.transaction() as uow:
        for i in range(args.jobs):
            uow.session.add(
                JobRow(
                    id=public_id(),
                    project_id=project.id,
                    name=f"job {i}",
                    script="noop.sh",
                    schedule_kind="cron",
                    schedule="* * * * *",
                    timezone="UTC",
                    creator_id=user.id,
                    environment={},
                    recipients=[],
                    next_fire_at=None,
                    created_at=now,
                    updated_at=now,
                )
            )
    # All due at the same instant, a moment from now.
    fire_at = utcnow() + timedelta(seconds=2)
    with store.transaction() as uow:
        uow.session.query(JobRow).update({JobRow.next_fire_at: fire_at})

    # The real scheduler thread (it also dispatches meanwhile, as in production).
    environment.prepare = lambda platform, identifier, since=None: NoopRuntime()
    scheduler = Scheduler(platform)
    scheduler.start()
    deadline = time.monotonic() + 120
    # Counted with one cheap query a quarter second: loading every run as often took the
    # scheduler thread's time (one process, one GIL) and was measured as its jitter.
    while True:
        with store.transaction() as uow:
            count = uow.session.scalar(select(func.count()).select_from(JobRunRow)) or 0
        if count >= args.jobs or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    with store.transaction() as uow:
        runs = uow.jobs.runs_with_status(*RunStatus, limit=args.jobs + 1)
    fired_in = (max(r.created_at for r in runs) - fire_at).total_seconds()
    jitter = [(r.created_at - fire_at).total_seconds() for r in runs]
    print(f"jobs due at once:        {len(runs)}")
    batches = sorted({(r.created_at - fire_at).total_seconds() for r in runs})
    print("fire batches at (s):     " + " ".join(f"{b:.2f}" for b in batches[:20]))
    print(f"all fired within:        {fired_in:.2f} s of the fire time")
    print(
        f"fire jitter p50 / p99:   {statistics.median(jitter) * 1000:.0f} ms / "
        f"{percentile(jitter, 0.99) * 1000:.0f} ms  (target p99 <= 1000 ms)",
        flush=True,
    )
    scheduler.stop(wait=True)  # its starters' batches too: their CPU would count below

    # The scheduler thread claimed a batch or two meanwhile: dispatch what is left, until no
    # run waits (counting to len(runs) never ended, and the deadline was measured instead),
    # in one thread, batch by batch as the scheduler's starters do (a claim for 4 starters,
    # split into 4 batches).
    profiler = cProfile.Profile() if args.profile else None
    transactions = [0]  # every unit of work that touched the database, reads included

    def count(_connection: object) -> None:
        transactions[0] += 1

    event.listen(engine, "begin", count)
    started = time.perf_counter()
    cpu_started = time.process_time()
    dispatched = 0
    deadline = started + 120
    if profiler is not None:
        profiler.enable()
    while time.perf_counter() < deadline:
        claimed = job_runs.claim(platform, limit=START_BATCH * STARTERS)
        if not claimed:
            break
        for index in range(STARTERS):
            batch = claimed[
                index * len(claimed) // STARTERS : (index + 1) * len(claimed) // STARTERS
            ]
            if batch:
                job_runs.start_batch(platform, batch)
        dispatched += len(claimed)
    dispatch_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)

    print(
        f"dispatched (no-op exec): {dispatched} in {dispatch_s:.1f} s "
        f"({dispatched / dispatch_s:,.0f} runs/s; {transactions[0]} transactions, "
        f"{transactions[0] / max(dispatched, 1):.2f} a start)"
    )
    with store.transaction() as uow:
        after = uow.jobs.runs_with_status(*RunStatus, limit=args.jobs + 1)
    outcome: dict[str, int] = {}
    for run in after:
        outcome[run.status.value] = outcome.get(run.status.value, 0) + 1
    print("runs by status after:    " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.items())))
    # On a shared machine the wall clock measures the neighbours too; CPU seconds do not.
    print(
        f"dispatch CPU:            {cpu_s * 1000 / max(dispatched, 1):.2f} ms a start "
        f"({dispatched / max(cpu_s, 1e-9):,.0f} runs per CPU second)"
    )


if __name__ == "__main__":
    main()

"""Job start latency: trigger → first line of user code, next to a bare `python -c` start.

Runs N jobs one after another through the real server path (service trigger, the scheduler
thread, the local executor with its sandbox and limits, the runtime's script runner) and
reads the time the script's first line printed. Prints p50/p95 for both; asserts nothing.

    uv run python bench/job_start.py [--runs 50]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lakeworks.config import Settings
from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import job_runs, jobs, projects, users, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.uow import Store

SCRIPT = "import time\nprint('FIRST', repr(time.time()), flush=True)\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_python(n: int, python: str) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.time()
        out = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.split()[1]) - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    settings = Settings(
        data_dir=data,
        secret_key=secrets.token_urlsafe(48),
        runtimes_dir=Path(args.runtimes_dir),
        scheduler_tick_seconds=1.0,
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    platform = Platform(settings, Store(engine))
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    user = users.create_user(platform, None, username="bench", password="a long dispatch secret 1")
    principal = Principal(user=user, via="cli")
    project = projects.create(
        platform, principal, name="Bench", source=projects.parse_source("", "")
    )
    (settings.projects_dir / project.id / "first.py").write_text(SCRIPT)
    job = jobs.create(
        platform, principal, project.id, JobFields(name="first", script="first.py", memory_mb=1024)
    )
    scheduler = Scheduler(platform)
    scheduler.start()
    print("warming up (builds the runtime on first use) ...", flush=True)
    samples: list[float] = []
    phases: list[tuple[float, float, float]] = []
    try:
        for i in range(args.runs + 1):
            start = time.time()
            run = job_runs.trigger(platform, principal, project.id, job.id)
            while True:
                current = job_runs.get_run(platform, principal, project.id, job.id, run.id)
                if current.status.is_final:
                    break
                time.sleep(0.005)
            if current.status is not RunStatus.SUCCEEDED:
                raise SystemExit(f"run failed: {current.reason}")
            text, _ = workloads.read_log(
                platform, workloads.get(platform, current.workload_id or "")
            )
            first = next(line for line in text.decode().splitlines() if line.startswith("FIRST"))
            if i:  # the first run builds and warms the runtime
                first_at = float(first.split()[1])
                samples.append(first_at - start)
                phases.append(_phases(start, current, first_at))
    finally:
        scheduler.stop()
        platform.close_executor()
    from lakeworks.services import environment

    interpreter = environment.prepare(platform, "").python
    bare = bare_python(args.runs, interpreter)
    print(f"runs: {len(samples)} on executor sandbox={getattr(platform.executor, 'sandbox', '?')}")
    print(
        f"trigger -> first line   p50 {statistics.median(samples) * 1000:.0f} ms   "
        f"p95 {percentile(samples, 0.95) * 1000:.0f} ms   (target p50 <= 250 ms)"
    )
    print(
        f"bare `python -c`        p50 {statistics.median(bare) * 1000:.0f} ms   "
        f"p95 {percentile(bare, 0.95) * 1000:.0f} ms   ({interpreter})"
    )
    print(
        f"ratio p50 (lakeworks / bare): {statistics.median(samples) / statistics.median(bare):.1f}x"
    )
    slowest = max(range(len(samples)), key=samples.__getitem__)
    print(
        f"slowest: run {slowest + 1} of {len(samples)}, "
        + " / ".join(f"{p * 1000:.0f}" for p in phases[slowest])
        + " ms in the phases below"
    )
    names = ("trigger -> claimed", "claimed -> process started", "started -> first line")
    for index, name in enumerate(names):
        values = [p[index] for p in phases]
        print(
            f"  {name:28} p50 {statistics.median(values) * 1000:.0f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:.0f} ms"
        )


def _phases(triggered: float, run: JobRun, first_line: float) -> tuple[float, float, float]:
    """Where a start's time went, from the run's own timestamps (UTC, naive)."""

    def epoch(at: datetime | None) -> float:
        assert at is not None
        return at.replace(tzinfo=UTC).timestamp() if at.tzinfo is None else at.timestamp()

    claimed, running = epoch(run.starting_at), epoch(run.running_at)
    return claimed - triggered, running - claimed, first_line - running


if __name__ == "__main__":
    main()

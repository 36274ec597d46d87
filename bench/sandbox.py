"""The sandbox's own cost on a workload start: executor ``start`` → the workload's first line.

Starts the same small Python workload on three local executors, interleaved so that load on
the machine hits them alike: no sandbox (``LAKEWORKS_SANDBOX=none``), bubblewrap as the
project's uid (``bwrap``), and bubblewrap with a network namespace joined by pasta
(``LAKEWORKS_SANDBOX_NETWORK=isolated``). Also the cost of a connection through pasta's
forwarding to a workload's port against a direct one. Prints p50/p95; asserts nothing.
The end-to-end figure (trigger → first line, with the scheduler) is ``bench/job_start.py``.

    uv run python bench/sandbox.py [--runs 40]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadSpec
from lakeworks.executors.local import LocalExecutor

FIRST = "import time\nprint('FIRST', repr(time.time()), flush=True)\n"
SERVE = """
import os, socket
s = socket.socket(); s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen()
print("FIRST", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(1):
        c.sendall(b"x")
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spec(work: Path, name: str, code: str, ports: list[str]) -> WorkloadSpec:
    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    return WorkloadSpec(
        workload_id=name,
        kind=WorkloadKind.JOB_RUN,
        argv=[sys.executable, "-I", "-S", "-u", "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        project_dir=project,
        log_path=work / f"{name}.log",
        runtime_dir=Path(sys.prefix),
        extra_ro_binds=[Path(sys.base_prefix)],
        resources=Resources(cpu=1.0, memory_mb=512),
        ports=ports,
    )


def first_line(executor: LocalExecutor, handle: dict[str, object], began: float) -> float:
    while b"FIRST" not in executor.logs(handle)[0]:
        time.sleep(0.001)
    return time.monotonic() - began


def round_trips(port: int, n: int = 2000) -> float:
    """Median seconds of one byte there and back on one connection."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            conn.sendall(b"x")
            conn.recv(1)
            times.append(time.perf_counter() - t)
    return pct(times, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakeworks-sandbox-bench-"))
    executors = {
        "none": LocalExecutor(work / "none", use_bwrap=False),
        "bwrap": LocalExecutor(work / "bwrap", require_sandbox=True),
        "isolated": LocalExecutor(work / "iso", require_sandbox=True, isolate_network=True),
    }
    for name, executor in executors.items():
        if executor.refusal or (name != "none" and executor.sandbox != "bwrap"):
            raise SystemExit(f"{name}: cannot run here: {executor.refusal or 'no bubblewrap'}")
    starts: dict[str, list[float]] = {name: [] for name in executors}
    for i in range(args.runs):
        for name, executor in executors.items():
            began = time.monotonic()
            handle = executor.start(spec(work / name, f"{name}-{i}", FIRST, []))
            starts[name].append(first_line(executor, handle, began))
            while executor.poll(handle) is None:
                time.sleep(0.002)
    print(f"runs: {args.runs} per mode, interleaved; executor start -> first line of the workload")
    base = pct(starts["none"], 0.5)
    for name, values in starts.items():
        p50, p95 = pct(values, 0.5) * 1000, pct(values, 0.95) * 1000
        print(f"  {name:9} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (+{p50 - base * 1000:.1f} ms)")
    print("one-byte round trip to a workload's port (the proxy's and gateway's hop):")
    for name in ("bwrap", "isolated"):
        executor = executors[name]
        handle = executor.start(spec(work / name, f"{name}-serve", SERVE, ["PORT"]))
        first_line(executor, handle, time.monotonic())
        port = int(handle["ports"][0])  # type: ignore[index]
        rtt = round_trips(port)
        print(f"  {name:9} p50 {rtt * 1e6:6.1f} us")
        executor.stop(handle, 1.0)


if __name__ == "__main__":
    main()

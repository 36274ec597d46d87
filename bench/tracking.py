"""MLflow tracking through Lakeworks' embedded server vs a stock `mlflow server`.

In one run, on one machine, both on the same kind of store (a SQLite file in a fresh directory,
or with ``--postgres URL`` a fresh database on that PostgreSQL server, one schema each, through
the same psycopg 3 driver), with the real `mlflow` client: `log_metric` one call at a time,
`log_batch` of 1000 metrics, and `search_runs` over 1000 runs. Lakeworks runs as a real
`lakeworks server` process (auth, project scoping, the scheduler and all; only the one-off
background build of the default runtime is off, as it has nothing to do with tracking);
`mlflow server` runs with one worker. Prints per-call times (p50 and p99), the server CPU
each call cost (user + system time of the server's processes over the calls, less what the
server burns idle: a figure load on the machine barely moves), the ratios, and the idle
resident memory of both servers. Asserts nothing.

MLflow 3's `mlflow server` also starts, by default, a job runner with seven `huey` consumers
(MLflow's background jobs: GenAI evaluation and the like). Lakeworks' embedded MLflow runs no
such jobs, and on this machine those consumers polled at about one core while idle, slowing
both servers alike; so the stock server runs with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``
(the same tracking work). ``--mlflow-jobs`` keeps MLflow's default instead.

On a loaded machine either server may take minutes to import and start: each gets
``--start-timeout`` seconds, and a server that does not come up is named with the end of its
log.

    uv run python bench/tracking.py [--metrics 300] [--batches 10] [--runs 1000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--start-timeout 600]
        [--mlflow-jobs]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url}: the server exited with {process.returncode}; its log ends:\n" + _tail(log)
            )
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                print(f"{url} up after {time.monotonic() - started:.0f} s", file=sys.stderr)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    raise RuntimeError(
        f"{url} did not answer within {timeout:.0f} s (load average {load}; raise "
        f"--start-timeout on a busy machine); its log ends:\n" + _tail(log)
    )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MiB)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _process_tree(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*"):
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                pids += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return pids


def cpu_ms(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far (ms)."""
    total = 0
    for one in _process_tree(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def idle_cpu_rate(pids: dict[str, int], seconds: float = 5.0) -> dict[str, float]:
    """CPU ms per second each server uses doing nothing (its scheduler, pollers...)."""
    before = {name: cpu_ms(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    return {name: (cpu_ms(pid) - before[name]) / seconds for name, pid in pids.items()}


def start_lakeworks(
    root: Path, database: str, timeout: float
) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    env = os.environ | {
        "LAKEWORKS_DATA_DIR": str(root / "lakeworks"),
        "LAKEWORKS_SECRET_KEY": secrets.token_urlsafe(48),
        "LAKEWORKS_PORT": str(port),
        "LAKEWORKS_BUILD_DEFAULT_RUNTIME": "false",
    }
    if database:
        env["LAKEWORKS_DATABASE_URL"] = database
    lakeworks = str(BIN / "lakeworks")
    subprocess.run([lakeworks, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [lakeworks, "admin", "create-user", "bench", "--password-stdin"],
        env=env,
        input=b"a long tracking secret 1\n",
        check=True,
        capture_output=True,
    )
    key = (
        subprocess.run(
            [lakeworks, "admin", "create-api-key", "bench"],
            env=env,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
        .split()[-1]
    )
    log = root / "lakeworks.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [lakeworks, "server"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{url}/login", process, log, timeout)
    except RuntimeError:
        stop(process)
        raise
    project = httpx.post(
        f"{url}/api/v2/projects",
        headers={"Authorization": f"Bearer {key}"},
        json={"name": "bench", "template": "blank"},
    ).json()
    return process, f"{url}/mlflow", project["id"] + " " + key


def start_mlflow(
    root: Path, store: str, timeout: float, *, jobs: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ)
    if not jobs:
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # see the module docstring
    if store.startswith("postgresql+lwpsycopg"):
        # Lakeworks' psycopg 3 dialect for MLflow (tracking/backend.py), registered in the
        # stock server's processes too, so both servers talk to PostgreSQL through one driver.
        site = root / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text("import lakeworks.tracking.backend\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    log = root / "mlflow-stock.log"
    out = log.open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            store,
            "--default-artifact-root",
            str(root / "mlruns"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn worker is stopped with it (``stop``)
    )
    out.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{url}/health", process, log, timeout)
    except RuntimeError:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and, for the stock one (a session of its own), its worker."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server at ``server_url`` (dropped afterwards), as a URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"lw_bench_tracking_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        database = admin.set(database=name)
        with create_engine(database).begin() as conn:
            conn.execute(text("CREATE SCHEMA stock"))
        yield database.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def workloads(
    targets: dict[str, tuple[str, dict[str, str], int, dict[str, str]]],
    args: argparse.Namespace,
) -> dict[str, dict[str, dict[str, float]]]:
    """Each measurement alternates between the targets call by call, so load from anything
    else on the machine falls on both alike. Per target and label: p50 and p99 of the calls
    (ms) and the server CPU per call (ms, less the server's idle rate over the same time).
    A target is (tracking URI, experiment tags, server pid, run tags)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    clients = {name: MlflowClient(tracking_uri=uri) for name, (uri, *_) in targets.items()}
    pids = {name: pid for name, (_, _, pid, _) in targets.items()}
    runs, searched = {}, {}
    for name, (_, tags, _, run_tags) in targets.items():
        experiment = clients[name].create_experiment(f"bench-{secrets.token_hex(4)}", tags=tags)
        runs[name] = clients[name].create_run(experiment, tags=run_tags).info.run_id
        searched[name] = clients[name].create_experiment(
            f"search-{secrets.token_hex(4)}", tags=tags
        )
        for i in range(args.runs):
            created = clients[name].create_run(searched[name], tags=run_tags)
            clients[name].log_batch(
                created.info.run_id, metrics=[Metric("acc", i / args.runs, 0, 0)]
            )
    idle = idle_cpu_rate(pids)
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in targets}

    def measure(label: str, times: int, call: Callable[[str, int], object]) -> None:
        samples: dict[str, list[float]] = {name: [] for name in targets}
        cpu_before = {name: cpu_ms(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        for i in range(times):
            for name in targets:
                start = time.perf_counter()
                call(name, i)
                samples[name].append((time.perf_counter() - start) * 1000)
        seconds = time.perf_counter() - started
        for name, values in samples.items():
            spent = cpu_ms(pids[name]) - cpu_before[name] - idle[name] * seconds
            ordered = sorted(values)
            results[name][label] = {
                "p50": statistics.median(ordered),
                "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                "cpu": max(0.0, spent) / times,
            }

    measure(
        "log_metric",
        args.metrics,
        lambda name, i: clients[name].log_metric(runs[name], "loss", 0.5, step=i),
    )

    def batch(name: str, i: int) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric("m", float(j), now, i * 1000 + j) for j in range(1000)]
        clients[name].log_batch(runs[name], metrics=metrics)

    measure("log_batch(1000)", args.batches, batch)
    measure(
        f"search_runs({args.runs})",
        args.searches,
        lambda name, i: clients[name].search_runs([searched[name]], max_results=args.runs),
    )
    for name in targets:
        found = clients[name].search_runs([searched[name]], max_results=args.runs)
        assert len(found) == args.runs, (name, len(found))
    for name in targets:
        results[name]["idle"] = {"cpu": idle[name]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=int, default=300, help="log_metric calls")
    parser.add_argument("--batches", type=int, default=10, help="log_batch(1000) calls")
    parser.add_argument("--runs", type=int, default=1000, help="runs to search over")
    parser.add_argument("--searches", type=int, default=10, help="search_runs calls")
    parser.add_argument(
        "--postgres",
        default="",
        metavar="URL",
        help="a PostgreSQL server to put both stores on (a fresh database); default SQLite",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=600, help="seconds each server may take to start"
    )
    parser.add_argument(
        "--mlflow-jobs",
        action="store_true",
        help="keep the stock server's job runner (MLflow's default; see the module docstring)",
    )
    args = parser.parse_args()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory(prefix="lw-bench-tracking-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        if args.postgres:
            database = stack.enter_context(postgres_database(args.postgres))
            store = database.replace("postgresql+psycopg", "postgresql+lwpsycopg", 1)
            store += "?options=-csearch_path%3Dstock"
        else:
            database, store = "", f"sqlite:///{root / 'mlflow-stock.db'}"
        lakeworks, lw_uri, secret = start_lakeworks(root, database, args.start_timeout)
        stack.callback(stop, lakeworks)
        stock, stock_uri = start_mlflow(root, store, args.start_timeout, jobs=args.mlflow_jobs)
        stack.callback(stop, stock)
        project_id, key = secret.split(" ")
        # One MLflow call first: the embedded MLflow is imported on first use.
        httpx.get(
            f"{lw_uri}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            headers={"Authorization": f"Bearer {key}"},
            timeout=args.start_timeout,
        ).raise_for_status()
        time.sleep(3)
        idle_before = rss_mb(lakeworks.pid)
        # Sent to both; the stock server ignores it.
        os.environ["MLFLOW_TRACKING_TOKEN"] = key
        results = workloads(
            {
                # Lakeworks tags each run with its caller (``mlflow.user``); the stock server,
                # without users, gets the same tag from the client, so both stores hold and
                # search the same rows.
                "lakeworks": (lw_uri, {"lakeworks.project_id": project_id}, lakeworks.pid, {}),
                "mlflow": (stock_uri, {}, stock.pid, {"mlflow.user": "bench"}),
            },
            args,
        )
        ours, theirs = results["lakeworks"], results["mlflow"]
        time.sleep(3)
        idle_after = rss_mb(lakeworks.pid)
        stock_rss = rss_mb(stock.pid)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"store: {'PostgreSQL' if args.postgres else 'SQLite'}; load average before "
        f"{load_before}, after {load_after}; ratio = Lakeworks / mlflow (< 1 is faster)"
    )
    jobs = "on (MLflow's default)" if args.mlflow_jobs else "off"
    print(f"stock server's job runner: {jobs}; times in ms; cpu = server CPU per call")
    print(
        f"{'':22}{'Lakeworks p50 / p99 / cpu':>28}{'mlflow p50 / p99 / cpu':>28}"
        f"{'ratio p50 / p99 / cpu':>24}"
    )
    for label, mine in ours.items():
        if label == "idle":
            continue
        other = theirs[label]
        cells = [f"{mine[k]:.1f}" for k in ("p50", "p99", "cpu")]
        stock_cells = [f"{other[k]:.1f}" for k in ("p50", "p99", "cpu")]
        ratios = [f"{mine[k] / other[k]:.2f}" if other[k] else "-" for k in ("p50", "p99", "cpu")]
        print(
            f"{label:22}{' / '.join(cells):>28}{' / '.join(stock_cells):>28}"
            f"{' / '.join(ratios):>24}"
        )
    print(
        f"idle server CPU: Lakeworks {ours['idle']['cpu']:.0f} ms/s, "
        f"mlflow server {theirs['idle']['cpu']:.0f} ms/s"
    )
    print(
        f"\nLakeworks server RSS, MLflow embedded: {idle_before:.0f} MiB idle after its first "
        "MLflow call, "
        f"{idle_after:.0f} MiB after the benchmark (goal: whole platform <= 600 MB)"
    )
    print(
        f"stock mlflow server (1 worker, with its parent) RSS after the benchmark: "
        f"{stock_rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()

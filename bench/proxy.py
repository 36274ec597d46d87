"""Proxy overhead: an application request through Lakeworks' authenticating proxy, next to the
same request sent to the application's own port.

Starts a Lakeworks server (uvicorn, as `lakeworks serve` runs it) on loopback with a real
application workload (a tornado app in the runtime, on CDSW_APP_PORT), then runs a client in
a separate process that measures, on the same machine in the same run:

- ``direct``: GET http://127.0.0.1:<app port>/
- ``proxy-host``: GET http://app.localhost:<port>/ (host routing, Bearer API key)
- ``proxy-path``: GET http://localhost:<port>/apps/app/ (path routing, Bearer API key)

each as sequential requests on one keep-alive connection (latency p50/p99; the three take
turns in blocks of 100) and as bursts of concurrent requests (req/s, best of three). Prints
figures and the proxy/direct ratios; asserts nothing.

    uv run python bench/proxy.py [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

APP = """
import os
import tornado.ioloop, tornado.web

class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write({"hello": "world", "path": self.request.path})

app = tornado.web.Application([(r"/.*", Hello)])
app.listen(int(os.environ["CDSW_APP_PORT"]), address="127.0.0.1")
tornado.ioloop.IOLoop.current().start()
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the client (a separate process) -------------------------------------------------------


def client(targets: dict[str, dict[str, str]], requests: int, concurrency: int) -> None:
    """Latency: the targets take turns in blocks of 100 requests (each on its own keep-alive
    connection), so a busy machine slows them alike. Throughput: one burst per target, also
    in turns, repeated three times, best kept."""
    import httpx

    block = 100

    async def latencies() -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {name: [] for name in targets}
        sessions = {
            name: httpx.AsyncClient(headers=t["headers"], trust_env=False)
            for name, t in targets.items()
        }
        try:
            for name, session in sessions.items():  # warm-up
                for _ in range(50):
                    (await session.get(targets[name]["url"])).raise_for_status()
            for _ in range(max(requests // block, 1)):
                for name, session in sessions.items():
                    url = targets[name]["url"]
                    for _ in range(block):
                        start = time.perf_counter()
                        response = await session.get(url)
                        samples[name].append(time.perf_counter() - start)
                        response.raise_for_status()
        finally:
            for session in sessions.values():
                await session.aclose()
        return samples

    async def burst(url: str, headers: dict[str, str]) -> float:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(headers=headers, limits=limits, trust_env=False) as session:
            queue = list(range(requests))

            async def worker() -> None:
                while queue:
                    queue.pop()
                    (await session.get(url)).raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return requests / (time.perf_counter() - start)

    samples = asyncio.run(latencies())
    rates: dict[str, float] = dict.fromkeys(targets, 0.0)
    for _ in range(3):
        for name, target in targets.items():
            rates[name] = max(rates[name], asyncio.run(burst(target["url"], target["headers"])))
    results = {
        name: {
            "p50_ms": statistics.median(samples[name]) * 1000,
            "p99_ms": percentile(samples[name], 0.99) * 1000,
            "req_s": rates[name],
        }
        for name in targets
    }
    print(json.dumps(results))


# --- the server and the app ----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(json.loads(args.client), args.requests, args.concurrency)
        return

    import uvicorn

    from lakeworks.app import create_app
    from lakeworks.config import Settings
    from lakeworks.entities.applications import AppStatus
    from lakeworks.services import applications, auth, projects, users
    from lakeworks.services.applications import AppFields
    from lakeworks.services.platform import Principal
    from lakeworks.store.database import make_engine, upgrade
    from lakeworks.store.uow import Store

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    settings = Settings(
        data_dir=data,
        secret_key=secrets.token_urlsafe(48),
        runtimes_dir=Path(args.runtimes_dir),
        public_url=f"http://localhost:{port}",
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    app = create_app(settings, Store(engine))
    platform = app.state.platform
    user = users.create_user(platform, None, username="bench", password="a long dispatch secret 1")
    principal = Principal(user=user, via="cli")
    key = auth.create_api_key(platform, principal, "bench").secret
    project = projects.create(
        platform, principal, name="Bench", source=projects.parse_source("", "")
    )
    (settings.projects_dir / project.id / "app.py").write_text(APP)

    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", proxy_headers=True, server_header=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    application = applications.create(
        platform, principal, project.id, AppFields(name="app", subdomain="app", script="app.py")
    )
    print("starting the application (builds the runtime on first use) ...", flush=True)
    try:
        deadline = time.monotonic() + 600
        while True:
            current = applications.get(platform, principal, project.id, application.id)
            if current.status is AppStatus.RUNNING:
                break
            if current.status is AppStatus.FAILED or time.monotonic() > deadline:
                raise SystemExit(f"the application did not start: {current.reason}")
            time.sleep(0.2)
        bearer = {"Authorization": f"Bearer {key}"}
        targets = {
            "direct": {"url": f"http://{current.target}/", "headers": {}},
            "proxy-host": {
                "url": f"http://127.0.0.1:{port}/",
                "headers": bearer | {"Host": f"app.localhost:{port}"},
            },
            "proxy-path": {"url": f"http://127.0.0.1:{port}/apps/app/", "headers": bearer},
        }
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--client",
                json.dumps(targets),
                "--requests",
                str(args.requests),
                "--concurrency",
                str(args.concurrency),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        applications.stop(platform, principal, project.id, application.id)
        time.sleep(1)
        server.should_exit = True
        thread.join(timeout=15)

    direct = results["direct"]
    print(
        f"\n{args.requests} GETs each, sequential on one connection (in turns), then in bursts of "
        f"{args.concurrency} concurrent; client in a separate process, same machine:\n"
    )
    print(f"{'path':<12}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'p50 x':>9}{'req/s x':>9}")
    for name, row in results.items():
        print(
            f"{name:<12}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['req_s']:>10.0f}"
            f"{row['p50_ms'] / direct['p50_ms']:>9.2f}{row['req_s'] / direct['req_s']:>9.2f}"
        )
    print("\nx = ratio to `direct` (the app's own port).")


if __name__ == "__main__":
    main()

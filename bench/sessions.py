"""Session start latency: start → JupyterLab answering through the proxy, and start → the
workbench console's kernel ready; p50 over N starts, next to the same programs started bare.

The session path is the real one: the sessions service, the local executor with its sandbox
and limits, ``lakeworks_session`` in the runtime, and, for JupyterLab, an HTTP request to
``/sessions/<id>/api/status`` through the Lakeworks server (uvicorn, sign-in cookie, proxy).
The "bare" rows start the same Jupyter server / kernel without Lakeworks (no sandbox, no
proxy), as the floor the platform adds to. Targets (issue 6): ≤ 3 s and ≤ 1 s; CML takes a
minute or more, JupyterHub on Kubernetes 2-20 s (not runnable here). Asserts nothing.

    uv run python bench/sessions.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from lakeworks.app import create_app
from lakeworks.config import Settings
from lakeworks.entities.sessions import Editor
from lakeworks.services import console, projects, sessions, users, workloads
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.uow import Store
from lakeworks.workload import site_dir

PASSWORD = "correct horse battery"


def p50(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: object) -> tuple[str, uvicorn.Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"username": username, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    client.post("/login", data=data)
    return client


def lab_starts(platform: Platform, who: Principal, project_id: str, web: httpx.Client, n: int):
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        session = sessions.start(platform, who, project_id, sessions.SessionFields(name="bench"))
        url = f"/sessions/{session.id}/api/status"
        deadline = time.monotonic() + 300
        while True:
            if time.monotonic() > deadline:
                raise SystemExit(f"session {session.id} never answered through the proxy")
            try:
                if web.get(url).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        samples.append(time.perf_counter() - began)
        stop(platform, who, project_id, session.id)
    return samples


def console_starts(platform: Platform, who: Principal, project_id: str, n: int) -> list[float]:
    samples = []
    fields = sessions.SessionFields(name="bench", editor=Editor.WORKBENCH.value)
    for _ in range(n):
        began = time.perf_counter()
        session = sessions.start(platform, who, project_id, fields)
        endpoint = sessions.enter(platform, who, session.id)
        asyncio.run(console.wait_ready(endpoint))
        samples.append(time.perf_counter() - began)
        stop(platform, who, project_id, session.id)
    return samples


def stop(platform: Platform, who: Principal, project_id: str, session_id: str) -> None:
    session = sessions.stop(platform, who, project_id, session_id)
    if session.workload_id:
        workload = workloads.get(platform, session.workload_id)
        platform.executor.stop(workload.handle, 2.0)
    # What the scheduler's tick does: record the exit, so the quota is free again.
    sessions.on_workloads_ended(platform, workloads.observe(platform))


def bare_lab(python: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        port = free_port()
        env = os.environ | {
            "PYTHONPATH": str(site_dir()),
            "LAKEWORKS_JUPYTER_PORT": str(port),
            "HOME": tempfile.mkdtemp(),
        }
        began = time.perf_counter()
        proc = subprocess.Popen(
            [python, "-m", "lakeworks_session", "bare", "jupyterlab"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the bare Jupyter server exited ({proc.returncode})")
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/sessions/bare/api/status")
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.02)
        samples.append(time.perf_counter() - began)
        proc.terminate()
        proc.wait()
    return samples


def bare_kernel(python: str, n: int) -> list[float]:
    from jupyter_client.asynchronous import AsyncKernelClient

    samples = []
    for _ in range(n):
        info = {f"{c}_port": free_port() for c in ("shell", "iopub", "stdin", "control", "hb")}
        info |= {"ip": "127.0.0.1", "transport": "tcp", "key": secrets.token_hex(16)}
        info["signature_scheme"] = "hmac-sha256"
        path = Path(tempfile.mkdtemp()) / "k.json"
        path.write_text(json.dumps(info))
        began = time.perf_counter()
        proc = subprocess.Popen(
            [python, "-m", "ipykernel_launcher", "-f", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        async def ready(info: dict[str, object] = info) -> None:
            client = AsyncKernelClient()
            client.load_connection_info(info)
            client.start_channels()
            while True:
                try:
                    await client.wait_for_ready(timeout=60)
                    break
                except RuntimeError:
                    await asyncio.sleep(0.05)
            client.stop_channels()

        asyncio.run(ready())
        samples.append(time.perf_counter() - began)
        proc.terminate()
        proc.wait()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--runtimes-dir", default=str(Path.home() / ".cache" / "lakeworks-test-runtimes")
    )
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    settings = Settings(
        data_dir=data,
        secret_key=secrets.token_urlsafe(48),
        runtimes_dir=Path(args.runtimes_dir),
        scheduler_enabled=False,
        public_url="http://127.0.0.1",
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    store = Store(engine)
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, store)
    platform: Platform = app.state.platform
    user = users.create_user(platform, None, username="bench", password=PASSWORD)
    who = Principal(user=user, via="session")
    project = projects.create(platform, who, name="Bench", source=projects.parse_source("", ""))
    base, server = serve(app)
    web = sign_in(base, "bench")
    # One warm-up start of each (the runtime is built or found, caches warm).
    lab_starts(platform, who, project.id, web, 1)
    console_starts(platform, who, project.id, 1)

    from lakeworks.services import environment

    python = str(environment.prepare(platform, "").python)
    lab = lab_starts(platform, who, project.id, web, args.runs)
    kernel = console_starts(platform, who, project.id, args.runs)
    lab_bare = bare_lab(python, args.runs)
    kernel_bare = bare_kernel(python, args.runs)
    server.should_exit = True

    print(f"session starts, p50 over {args.runs} (min-max):")
    rows = [
        ("start → JupyterLab answering via proxy", lab, 3.0),
        ("  bare Jupyter server (no sandbox/proxy)", lab_bare, None),
        ("start → console kernel ready", kernel, 1.0),
        ("  bare ipykernel (no sandbox)", kernel_bare, None),
    ]
    for label, values, target in rows:
        verdict = ""
        if target is not None:
            verdict = f"target ≤ {target:g} s: {'met' if p50(values) <= target else 'MISSED'}"
        print(
            f"  {label:44s} {p50(values):6.2f} s  ({min(values):.2f}-{max(values):.2f})  {verdict}"
        )
    print(
        f"  platform overhead: JupyterLab x{p50(lab) / p50(lab_bare):.2f}, "
        f"kernel x{p50(kernel) / p50(kernel_bare):.2f} of the bare start"
    )
    print("  CML: ≥ 60 s per session start (documented); JupyterHub on Kubernetes: 2-20 s")
    print(
        f"  vs CML's 60 s: JupyterLab {60 / p50(lab):.0f}x faster, console {60 / p50(kernel):.0f}x"
    )


if __name__ == "__main__":
    main()

"""`kill -9` of a real server while runs are active: nothing stuck, nothing lost.

One run ends while the server is down (its outcome comes from the exit record its wrapper
wrote), another is still running when the server comes back (it is re-adopted and finishes).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.ports import free_port
from tests.scheduler.conftest import RUNTIME_CACHE

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.port = free_port()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path / "home"),
            "LAKEWORKS_DATA_DIR": str(tmp_path / "data"),
            "LAKEWORKS_DATABASE_URL": database_url,
            "LAKEWORKS_SECRET_KEY": secrets.token_urlsafe(48),
            "LAKEWORKS_PORT": str(self.port),
            "LAKEWORKS_RUNTIMES_DIR": str(RUNTIME_CACHE),
            "LAKEWORKS_SCHEDULER_TICK_SECONDS": "0.2",
        }
        self.log = tmp_path / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "lakeworks.cli.main", *args],
            env=self.env,
            input=stdin.encode(),
            capture_output=True,
            check=True,
            cwd=ROOT,
        )
        return result.stdout.decode().strip()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lakeworks.cli.main", "server"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        # Generous: importing the app alone took 46 s on this 2-core machine under load.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/login", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log.read_text())

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


@pytest.mark.timeout(900)
def test_kill_9_while_runs_are_active(tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        url = database_url
    else:
        url = f"sqlite:///{tmp_path / 'server.db'}"
    server = Server(tmp_path, url)
    server.cli("db", "upgrade")
    server.cli(
        "admin",
        "create-user",
        "ops",
        "--admin",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    key = server.cli("admin", "create-api-key", "ops")
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}/api/v2",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    server.start()
    try:
        pid = api.post("/projects", json={"name": "Restart"}).json()["id"]
        api.put(
            f"/projects/{pid}/files/sleep.py",
            content=b"import sys, time\nprint('start', flush=True)\n"
            b"time.sleep(float(sys.argv[1]))\nprint('done', flush=True)\n",
        )
        ids = {}
        for name, seconds in (("short", "3"), ("long", "12")):
            job = api.post(
                f"/projects/{pid}/jobs",
                json={"name": name, "script": "sleep.py", "arguments": seconds, "memory": 1},
            ).json()
            run = api.post(f"/projects/{pid}/jobs/{job['id']}/runs", json={}).json()
            ids[name] = (job["id"], run["id"])

        def run_of(name: str) -> dict:
            job_id, run_id = ids[name]
            return api.get(f"/projects/{pid}/jobs/{job_id}/runs/{run_id}").json()

        deadline = time.monotonic() + 600  # the first run may build the runtime
        while not all(run_of(n)["status"] == "ENGINE_RUNNING" for n in ids):
            assert time.monotonic() < deadline, {n: run_of(n) for n in ids}
            time.sleep(0.2)
        time.sleep(1)
        server.kill9()
        time.sleep(4)  # "short" ends while the server is down
        server.start()
        deadline = time.monotonic() + 60
        while not all(
            run_of(n)["status"] not in ("ENGINE_RUNNING", "ENGINE_STARTING", "ENGINE_SCHEDULING")
            for n in ids
        ):
            assert time.monotonic() < deadline, {n: run_of(n) for n in ids}
            time.sleep(0.3)
        for name in ids:
            run = run_of(name)
            assert run["status"] == "ENGINE_SUCCEEDED", run
            assert run["exit_code"] == 0, run
            job_id, run_id = ids[name]
            logs = api.get(f"/projects/{pid}/jobs/{job_id}/runs/{run_id}/logs").json()
            assert "done" in logs["text"], logs
    finally:
        server.stop()
        api.close()

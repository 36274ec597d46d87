"""``cml.workers_v1`` (also ``cdsw.launch_workers`` and friends): workers of a session or job
run (CML compat §12).

A worker is another engine of the project with the caller's runtime, the project's files and
variables, plus ``env``. ``script`` runs a project file; otherwise ``code`` runs (through the
same IPython-style runner as scripts), and ``code`` starting with ``!`` is a shell command.
Workers get ``CDSW_MASTER_ID``/``CDSW_MASTER_IP`` (the caller) and their own
``CDSW_ENGINE_ID``, ``CDSW_IP_ADDRESS`` and ports. The caller and its workers reach each
other on any TCP port at those addresses; workers end with the caller, and their output goes
to the caller's log.

Example::

    import cdsw
    workers = cdsw.launch_workers(n=2, cpu=0.5, memory=1, code="!python3 -m http.server 9000")
    ready = cdsw.await_workers(workers, wait_for_completion=False)
    print([w["ip_address"] for w in ready["workers"]])
    cdsw.stop_workers()
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

POLL_SECONDS = 5.0  # as CML's await_workers
FAILED = ("failed", "timedout", "stopped")
FINAL = (*FAILED, "succeeded")
HTTP_TIMEOUT = 60.0


class WorkerResponse:
    """What ``stop_workers`` returns per worker, in the style of ``requests.Response``."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body
        self.text = body.decode("utf-8", "replace")
        self.ok = 200 <= status_code < 400

    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<WorkerResponse [{self.status_code}]>"


def _base() -> str:
    api_url = os.environ.get("CDSW_API_URL", "").rstrip("/")
    project = os.environ.get("CDSW_PROJECT_ID", "")
    if not api_url or not project:
        raise RuntimeError("Workers need a Lakeworks session or job (CDSW_API_URL is not set).")
    return f"{api_url[:-1]}2/projects/{urllib.parse.quote(project)}/workers"


def _call(method: str, suffix: str = "", body: dict[str, Any] | None = None) -> tuple:
    """``(status, raw body)`` of one call with the engine's own key; never raises on HTTP
    errors (the caller reads the status)."""
    headers = {"Accept": "application/json"}
    key = os.environ.get("CDSW_APIV2_KEY", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(_base() + suffix, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _message(status: int, raw: bytes) -> str:
    try:
        found = json.loads(raw.decode("utf-8"))
        return str(found.get("message") or found.get("detail") or found)
    except ValueError:
        return f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"


def _parent() -> str:
    return os.environ.get("CDSW_ENGINE_ID", "")


def launch_workers(
    n: int,
    cpu: float,
    memory: float,
    nvidia_gpu: int = 0,
    kernel: str = "python3",
    script: str = "",
    code: str = "",
    env: dict[str, Any] = {},  # noqa: B006 (CML's own signature; never mutated here)
    name: str | None = None,
) -> list[dict[str, Any]]:
    """Start ``n`` workers of ``cpu`` vCPU and ``memory`` GB each; one dict per worker
    (``id``, ``status``, ``created_at``, ``app_url``, ``ip_address``; a failed one also has
    ``message`` and ``engineId``).

    Example::

        workers = launch_workers(n=2, cpu=1, memory=2, script="worker.py", env={"ROLE": "w"})
    """
    body = {
        "parent_id": _parent(),
        "n": n,
        "cpu": cpu,
        "memory": memory,
        "nvidia_gpu": nvidia_gpu,
        "kernel": kernel,
        "script": script or "",
        "code": "" if script else (code or ""),
        "env": {str(k): str(v) for k, v in (env or {}).items()},
        "name": name or "",
    }
    status, raw = _call("POST", body=body)
    if status == 200:
        return list(json.loads(raw.decode("utf-8"))["workers"])
    message = _message(status, raw)
    count = n if isinstance(n, int) and 0 < n <= 1000 else 1
    return [{"id": "", "engineId": "", "status": "failed", "message": message}] * count


def list_workers() -> list[dict[str, Any]]:
    """The workers of this session or job run, oldest first: ``id``, ``status``
    (``scheduling``, ``running``, ``succeeded``, ``failed``, ``stopped``, ``timedout``),
    ``created_at``, ``running_at``, ``finished_at``, ``duration``, ``ip_address``,
    ``app_url``.

    Example::

        running = [w for w in list_workers() if w["status"] == "running"]
    """
    query = "?" + urllib.parse.urlencode({"parent_id": _parent()})
    status, raw = _call("GET", query)
    if status != 200:
        raise RuntimeError(f"list_workers failed: {_message(status, raw)}")
    return list(json.loads(raw.decode("utf-8"))["workers"])


def stop_workers(*worker_ids: str) -> list[WorkerResponse]:
    """Stop the given workers (none given: every worker of this session); one response per
    worker, with ``.status_code`` (200, or 404 for an id that is not one of ours).

    Example::

        stop_workers(workers[0]["id"])
        stop_workers()
    """
    ids = list(worker_ids) or [w["id"] for w in list_workers()]
    responses = []
    for worker_id in ids:
        body = {"parent_id": _parent(), "worker_ids": [_id_of(worker_id)]}
        status, raw = _call("POST", ":stop", body)
        responses.append(WorkerResponse(status, raw))
    return responses


def _id_of(worker: str | dict[str, Any]) -> str:
    if isinstance(worker, dict):
        return str(worker.get("id") or worker.get("engineId") or "")
    return str(worker)


def await_workers(
    workers: list[str | dict[str, Any]],
    wait_for_completion: bool = True,
    timeout_seconds: float = 60,
) -> dict[str, list[dict[str, Any]]]:
    """Wait for ``workers`` (ids or dicts from ``launch_workers``), polling every 5 s.

    With ``wait_for_completion=False`` it returns once each is running with an
    ``ip_address``; otherwise once each ended. ``failed``, ``timedout`` and ``stopped``
    workers, those that never launched and those still pending at the timeout go to
    ``failures``. Returns ``{"workers": [...], "failures": [...]}``.

    Example::

        ready = await_workers(launch_workers(2, 1, 1, code="!sleep 600"), False)
        addresses = [w["ip_address"] for w in ready["workers"]]
    """
    failures: list[dict[str, Any]] = [w for w in workers if isinstance(w, dict) and not _id_of(w)]
    wanted = [i for i in (_id_of(w) for w in workers) if i]
    settled: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + float(timeout_seconds)
    while True:
        known = {w["id"]: w for w in list_workers()}
        pending = []
        for worker_id in wanted:
            state = known.get(worker_id)
            if state is None:
                failures.append({"id": worker_id, "status": "failed", "message": "not found"})
            elif _settled(state, wait_for_completion):
                settled.append(state)
            else:
                pending.append(worker_id)
                last[worker_id] = state
        wanted = pending
        if not wanted or time.monotonic() >= deadline:
            failures += [w for w in settled if w["status"] in FAILED]
            failures += [last[i] for i in wanted]
            return {
                "workers": [w for w in settled if w["status"] not in FAILED],
                "failures": failures,
            }
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _settled(state: dict[str, Any], wait_for_completion: bool) -> bool:
    if state["status"] in FINAL:
        return True
    if wait_for_completion:
        return False
    return state["status"] == "running" and bool(state.get("ip_address"))

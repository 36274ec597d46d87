"""One model replica: load the model function once, then answer the gateway.

Environment (set by the platform):

- ``LAKEWORKS_REPLICA_PORT``: the port to listen on (loopback): health probes, and the
  gateway where there is no socket.
- ``LAKEWORKS_REPLICA_SOCKET_FD``: where the executor made one, the descriptor of a listening
  Unix socket the gateway calls the replica on: no TCP, and no network namespace's relay
  (pasta) between the two. Served from the same moment as the port, by the same replica.
- ``LAKEWORKS_MODEL_FILE`` and ``LAKEWORKS_MODEL_FUNCTION``: a file-based build, the file
  relative to the build snapshot (the working directory, ``/home/cdsw``).
- ``LAKEWORKS_MODEL_MLFLOW_PATH``: a registry build, the MLflow model directory instead.
- ``LAKEWORKS_MODEL_CONCURRENCY``: calls served at once (default 1, CML's semantics).
- ``LAKEWORKS_MODEL_TIMEOUT``: seconds a call may run. A call past it is answered
  ``504 model.timeout`` and the replica exits (the model's state is unknown), so the
  platform starts a fresh one.

One call at a time (the default) runs on the event loop's own thread: handing each call to a
worker thread and its answer back cost the replica ~0.2 ms of CPU a call, a fifth of the
whole on the benchmark's model (README, Measured). The loop has nothing else to do meanwhile:
the gateway sends a replica at most one call ahead, which waits in the socket. The model's
code sees no running event loop (as in a thread: ``asyncio.run`` works in it). The timeout is
an interval timer whose signal raises ``CallTimedOut`` in the model's code (a blocking call
returns early for it). C code that holds the interpreter lock and never returns to the
interpreter cannot be interrupted (nor could it when calls ran in a worker thread: the loop
needed the lock to answer); the gateway then answers ``504`` at its own bound. More than one
call at a time (``LAKEWORKS_MODEL_CONCURRENCY``) runs in a thread pool, with the same timeout
and exit.

The protocol with the gateway (internal, both ends are Lakeworks'):

- ``GET /health`` → ``200 {"status": "ready", "busy": n}`` once the model is loaded (the
  port only opens then).
- ``POST /predict``, body: the JSON ``request`` value, header ``X-Lakeworks-Uuid``: the
  gateway's prediction uuid. The answer's status is the client's status; its body is one
  line of JSON with what the metrics decorator collected (``{"uuid", "start_ms", "end_ms",
  "metrics"}`` or ``null``), a newline, then the client's envelope (compat §5.2) verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import runpy
import signal
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger("lakeworks.replica")

MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


def _json_default(value: Any) -> Any:
    """numpy / pandas values → plain JSON (compat §5.1: scalars ``.item()``, arrays
    ``.tolist()``)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, numpy values included.

    Example::

        >>> dumps({"a": 1})
        b'{"a":1}'
    """
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


# Loading ---------------------------------------------------------------------------------


def load_file_function(path: str, name: str) -> Callable[[Any], Any]:
    """Execute the model file once (``__name__ == "__main__"``, compat §5.4 D) and return
    its function ``name``.

    Example::

        predict = load_file_function("predict.py", "predict")
    """
    if "" not in sys.path:
        sys.path.insert(0, "")
    namespace = runpy.run_path(path, run_name="__main__")
    fn = namespace.get(name)
    if fn is None or not callable(fn):
        raise SystemExit(f"{path} defines no function {name!r}")
    return fn


def _as_list(out: Any) -> list[Any]:
    """A pyfunc's output (array, series, frame, list) as JSON-ready list."""
    if hasattr(out, "tolist"):
        return list(out.tolist())
    if hasattr(out, "to_dict"):
        return list(out.to_dict(orient="records"))
    return out if isinstance(out, list) else list(out)


def load_mlflow_function(model_dir: str) -> Callable[[Any], Any]:
    """The scorer of a registry build: MLflow pyfunc, ``dataframe_split`` (and
    ``dataframe_records``, ``instances``, ``inputs``) in, a list out, metrics on (the output
    tracked as ``prediction``: a one-row request's value, else the list).

    Example::

        predict = load_mlflow_function("mlflow_model")
        predict({"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})
    """
    import mlflow.pyfunc  # the runtime ships MLflow
    import pandas as pd
    from cml.metrics_v1 import track_metric
    from cml.models_v1 import cml_model

    model = mlflow.pyfunc.load_model(model_dir)

    def frame(request: Any) -> Any:
        if isinstance(request, str):
            request = json.loads(request)
        if not isinstance(request, dict):
            raise ValueError("The request must be an object with 'dataframe_split'.")
        if "dataframe_split" in request:
            split = request["dataframe_split"]
            return pd.DataFrame(
                split.get("data", []), columns=split.get("columns"), index=split.get("index")
            )
        if "dataframe_records" in request:
            return pd.DataFrame(request["dataframe_records"])
        for key in ("instances", "inputs"):
            if key in request:
                value = request[key]
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    return pd.DataFrame(value)
                return pd.DataFrame(value)
        raise ValueError(
            "The request must hold 'dataframe_split' (or 'dataframe_records', 'instances', "
            "'inputs')."
        )

    @cml_model(metrics=True)
    def predict(request: Any) -> Any:
        out = _as_list(model.predict(frame(request)))
        # Tracked, so the monitoring page can set it against delayed ground truth
        # (``track_delayed_metrics``) and show accuracy: one row's value, else the list.
        track_metric("prediction", out[0] if len(out) == 1 else out)
        return out

    return predict


# Serving ---------------------------------------------------------------------------------


class CallTimedOut(BaseException):
    """Raised in the model's code when its call runs past the timeout (a BaseException, so
    the model's own ``except Exception`` does not swallow it)."""


class Replica:
    def __init__(self, fn: Callable[[Any], Any], concurrency: int, timeout: float) -> None:
        from cml.models_v1 import _call

        self.fn = fn
        self._call_var = _call
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.slots = asyncio.Semaphore(self.concurrency)
        # Signals reach the main thread only: elsewhere (an embedding), calls go to the pool.
        self.inline = (
            self.concurrency == 1 and threading.current_thread() is threading.main_thread()
        )
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="model")
        self.busy = 0
        self.draining = False
        self.connections: set[asyncio.StreamWriter] = set()
        self.idle: set[asyncio.StreamWriter] = set()
        self._deadline = 0.0  # when the inline call in progress must end (0: none)
        if self.inline and self.timeout > 0:
            signal.signal(signal.SIGALRM, self._on_alarm)

    def _invoke(self, request: Any, state: dict) -> Any:
        self._call_var.set(state)
        return self.fn(request)

    def _call_inline(self, request: Any, state: dict) -> Any:
        """The model's call on this thread, with no running event loop in sight, bounded by
        the timeout."""
        ctx = contextvars.copy_context()
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            if self.timeout <= 0:
                return ctx.run(self._invoke, request, state)
            self._deadline = time.monotonic() + self.timeout
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                return ctx.run(self._invoke, request, state)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self._deadline = 0.0
        finally:
            asyncio.events._set_running_loop(loop)

    def _on_alarm(self, _signum: int, _frame: Any) -> None:
        if self._deadline:  # a signal left over from a call that has ended raises nothing
            raise CallTimedOut()

    async def predict(self, body: bytes, prediction_uuid: str) -> tuple[int, bytes]:
        try:
            request = json.loads(body) if body else None
        except ValueError as exc:
            return 400, b"null\n" + _error(f"The request is not JSON: {exc}", "request.invalid")
        async with self.slots:
            self.busy += 1
            state: dict = {"uuid": prediction_uuid, "record": None}
            loop = asyncio.get_running_loop()
            try:
                if self.inline:
                    result = self._call_inline(request, state)
                else:
                    ctx = contextvars.copy_context()
                    future = loop.run_in_executor(self.pool, ctx.run, self._invoke, request, state)
                    if self.timeout > 0:
                        result = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                    else:
                        result = await future
            except (asyncio.TimeoutError, CallTimedOut):
                print(
                    f"model call {prediction_uuid} ran past {self.timeout:g}s; "
                    "restarting the replica",
                    file=sys.stderr,
                    flush=True,
                )
                loop.call_later(0.2, os._exit, 70)
                return 504, b"null\n" + _error(
                    f"The model did not answer within {self.timeout:g} seconds.", "model.timeout"
                )
            except Exception as exc:
                traceback.print_exc()
                sys.stderr.flush()
                record = dumps(state["record"]) if state["record"] else b"null"
                return 500, record + b"\n" + _error(str(exc) or type(exc).__name__, "model.error")
            finally:
                self.busy -= 1
        record = state["record"]
        try:
            envelope = dumps({"success": True, "response": result})
        except (TypeError, ValueError) as exc:
            return 500, b"null\n" + _error(
                f"The model's return value is not JSON serialisable: {exc}", "model.error"
            )
        return 200, (dumps(record) if record else b"null") + b"\n" + envelope

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while not self.draining:
                self.idle.add(writer)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                finally:
                    self.idle.discard(writer)
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, path, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length > MAX_BODY:
                    return
                body = await reader.readexactly(length) if length else b""
                keep_alive = headers.get("connection", "").lower() != "close" and (
                    version == "HTTP/1.1"
                )
                path = path.split("?", 1)[0]
                if method == "POST" and path == "/predict":
                    status, payload = await self.predict(body, headers.get("x-lakeworks-uuid", ""))
                    ctype = b"application/x-lakeworks-prediction"
                elif method == "GET" and path == "/health":
                    status, payload = 200, dumps({"status": "ready", "busy": self.busy})
                    ctype = b"application/json"
                else:
                    status, payload = 404, dumps({"error": "not found"})
                    ctype = b"application/json"
                keep_alive = keep_alive and not self.draining
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                    % (
                        status,
                        _REASONS.get(status, b"OK"),
                        ctype,
                        len(payload),
                        b"" if keep_alive else b"Connection: close\r\n",
                    )
                    + payload
                )
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections.discard(writer)
            self.idle.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def drain(self) -> None:
        """On SIGTERM: answer what is in flight, close idle connections, then exit."""
        self.draining = True
        for writer in list(self.idle):
            writer.close()


_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    500: b"Internal Server Error",
    504: b"Gateway Timeout",
}


def _error(message: str, code: str) -> bytes:
    return dumps({"success": False, "errors": {"message": message, "code": code}})


async def serve(
    fn: Callable[[Any], Any],
    port: int,
    concurrency: int,
    timeout: float,
    socket_fd: int | None = None,
) -> None:
    """Answer the gateway on ``127.0.0.1:port`` (and on the listening Unix socket
    ``socket_fd``, when given) until SIGTERM, then drain and return.

    Example::

        asyncio.run(serve(predict, 8090, concurrency=1, timeout=30.0))
    """
    replica = Replica(fn, concurrency, timeout)
    servers = []
    if socket_fd is not None:
        listener = socket.socket(fileno=socket_fd)
        # The path is the executor's to remove. Python 3.13 would stat the name the socket was
        # bound by (``/proc/self/fd/N/...``: the server's descriptor, meaningless here).
        keep_path: dict[str, Any] = {}
        if sys.version_info >= (3, 13):
            keep_path["cleanup_socket"] = False
        servers.append(
            await asyncio.start_unix_server(
                replica.handle, sock=listener, limit=MAX_HEADER, **keep_path
            )
        )
    servers.append(
        await asyncio.start_server(
            replica.handle, "127.0.0.1", port, limit=MAX_HEADER, backlog=1024
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"replica ready on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    replica.drain()
    deadline = time.monotonic() + 8
    while replica.busy and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # let the last answers flush
    print("replica stopped", flush=True)


def main() -> int | None:
    """Load the model named by the environment and serve it (``python -m lakeworks_serving``).

    Example::

        LAKEWORKS_REPLICA_PORT=8090 LAKEWORKS_MODEL_FILE=predict.py \\
            LAKEWORKS_MODEL_FUNCTION=predict python -m lakeworks_serving
    """
    port = int(os.environ["LAKEWORKS_REPLICA_PORT"])
    socket_fd = os.environ.get("LAKEWORKS_REPLICA_SOCKET_FD", "")
    if socket_fd:  # before the model loads: not for processes its code starts
        os.set_inheritable(int(socket_fd), False)
    concurrency = int(os.environ.get("LAKEWORKS_MODEL_CONCURRENCY", "1") or 1)
    timeout = float(os.environ.get("LAKEWORKS_MODEL_TIMEOUT", "30") or 0)
    mlflow_path = os.environ.get("LAKEWORKS_MODEL_MLFLOW_PATH", "")
    started = time.monotonic()
    if mlflow_path:
        fn = load_mlflow_function(mlflow_path)
        what = f"MLflow model {mlflow_path}"
    else:
        path = os.environ["LAKEWORKS_MODEL_FILE"]
        name = os.environ["LAKEWORKS_MODEL_FUNCTION"]
        fn = load_file_function(path, name)
        what = f"{path}:{name}"
    print(f"loaded {what} in {time.monotonic() - started:.2f}s", flush=True)
    asyncio.run(serve(fn, port, concurrency, timeout, int(socket_fd) if socket_fd else None))
    return 0

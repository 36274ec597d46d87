"""``cml.models_v1``: the model decorator and calls to deployed models (CML compat §3.2).

Example::

    from cml.models_v1 import cml_model, call_model

    @cml_model(metrics=True)
    def predict(args):
        return {"churn": args["tenure"] < 12}

    result = call_model("mkvxq2...", {"tenure": 3})
    print(result["response"])
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import http.client
import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable
from urllib.parse import urlparse

from cml._model_context import _metrics

# Set by the replica server around each call: {"uuid": str, "record": dict | None}. The
# decorator fills "record" with what it collected, for the server to hand to the gateway.
_call: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "lakeworks_model_call", default=None
)


def _in_replica() -> bool:
    return _call.get() is not None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wrap(fn: Callable[..., Any], metrics: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _call.get()
        if call is None or not metrics:
            # Outside a replica: call the function and return the raw result (compat §3.2).
            return fn(*args, **kwargs)
        prediction_uuid = call.get("uuid") or str(uuid.uuid4())
        tracked: dict = {}
        token = _metrics.set(tracked)
        start = _now_ms()
        try:
            result = fn(*args, **kwargs)
        finally:
            _metrics.reset(token)
            end = _now_ms()
            call["record"] = {
                "uuid": prediction_uuid,
                "start_ms": start,
                "end_ms": end,
                "metrics": tracked,
            }
        return {"uuid": prediction_uuid, "prediction": result}

    wrapper.__lakeworks_metrics__ = metrics  # type: ignore[attr-defined]
    return wrapper


def cml_model(_fn: Callable[..., Any] | None = None, *, metrics: bool = False) -> Any:
    """Decorate a model function; bare (``@cml_model``) and called (``@cml_model(...)``).

    With ``metrics=True``, inside a model replica each call gets a prediction uuid, is timed,
    and ``track_metric`` calls made during it are stored with the prediction; the response
    becomes ``{"uuid": ..., "prediction": <return value>}``. Outside a replica the function
    is called and its raw result returned.

    Example::

        @cml_model(metrics=True)
        def predict(args):
            track_metric("input", args)
            return 0.7
    """
    if _fn is not None and callable(_fn):
        return _wrap(_fn, metrics)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _wrap(fn, metrics)

    return decorate


def model_metrics(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The legacy ``@cdsw.model_metrics`` decorator: ``cml_model(metrics=True)``.

    Example::

        @cdsw.model_metrics
        def predict(args):
            return 1
    """
    return _wrap(fn, True)


def _model_call_endpoint() -> str:
    """``<scheme>://modelservice.<domain>/model`` from ``CDSW_DOMAIN`` and ``CDSW_API_URL``.

    Example::

        >>> os.environ["CDSW_DOMAIN"] = "ml.example.org"  # doctest: +SKIP
        >>> _model_call_endpoint()  # doctest: +SKIP
        'https://modelservice.ml.example.org/model'
    """
    api_url = os.environ.get("CDSW_API_URL", "")
    scheme = api_url.split(":")[0] if api_url else "http"
    domain = os.environ.get("CDSW_DOMAIN") or urlparse(api_url).netloc
    return f"{scheme}://modelservice.{domain}/model"


def _reachable_endpoint() -> str:
    """The model endpoint to POST to: the gateway on this machine's loopback when the
    platform says it is there (``LAKEWORKS_MODEL_GATEWAY_URL``: no DNS, no TLS, no detour
    through the public host and its proxy), else ``modelservice.<domain>`` when that name
    resolves, else the same ``/model`` route on the server's own address (``localhost``)."""
    local = os.environ.get("LAKEWORKS_MODEL_GATEWAY_URL", "")
    if local:
        return local
    url = _model_call_endpoint()
    host = urlparse(url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
        return url
    except OSError:
        api_url = os.environ.get("CDSW_API_URL", "")
        return api_url.replace("/api/v1", "") + "/model" if api_url else url


# Worked out once per process (the variables it reads do not change in a workload), so a
# call does no name lookup of its own.
_endpoints: dict[tuple[str, str, str], str] = {}
# The gateway's Unix socket (``LAKEWORKS_MODEL_GATEWAY_SOCKET``), as an endpoint.
_SOCKET = "unix:"
# Sockets that refused a connection (a server started without one): the URL is used instead.
_unreachable: set[str] = set()
# One kept-alive connection per thread: http.client connections are not thread-safe.
_connections = threading.local()
# The server closes a connection idle longer than this (uvicorn's default keep-alive is
# 5 s); an older one is replaced before use rather than found closed mid-request.
_IDLE_SECONDS = 4.0
_TIMEOUT_SECONDS = 120.0


class _UnixConnection(http.client.HTTPConnection):
    """HTTP to the gateway over its Unix socket: no TCP, and no network namespace between
    an isolated workload and the server (see the server's ``serving.local_socket``)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _SocketUnreachable(Exception):
    pass


def _endpoint() -> str:
    """Where this process's calls go: the gateway's socket when the platform gives one that
    accepts connections, else a URL (``_reachable_endpoint``)."""
    socket_path = os.environ.get("LAKEWORKS_MODEL_GATEWAY_SOCKET", "")
    if socket_path and _SOCKET + socket_path not in _unreachable:
        return _SOCKET + socket_path
    key = (
        os.environ.get("LAKEWORKS_MODEL_GATEWAY_URL", ""),
        os.environ.get("CDSW_DOMAIN", ""),
        os.environ.get("CDSW_API_URL", ""),
    )
    url = _endpoints.get(key)
    if url is None:
        url = _endpoints[key] = _reachable_endpoint()
    return url


def _connection(url: str) -> tuple[http.client.HTTPConnection, bool]:
    """This thread's connection to ``url``'s host and whether it was used before."""
    held = getattr(_connections, "held", None)
    now = time.monotonic()
    if held is not None:
        held_url, kept, last_used = held
        if held_url == url and now - last_used < _IDLE_SECONDS:
            return kept, True
        kept.close()
    parts = urlparse(url)
    connection: http.client.HTTPConnection
    if url.startswith(_SOCKET):
        connection = _UnixConnection(url[len(_SOCKET) :], _TIMEOUT_SECONDS)
    elif parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=_TIMEOUT_SECONDS
        )
    else:
        connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=_TIMEOUT_SECONDS
        )
    _connections.held = (url, connection, now)
    return connection, False


def _acknowledge_at_once(sock: Any) -> None:
    """Ask Linux to acknowledge the answer's segments at once rather than after its delayed
    ACK timer (40 ms). Between an isolated workload and the gateway's TCP port sits pasta,
    whose socket holds the answer's body (Nagle's algorithm) until its head is acknowledged:
    without this every call took 40 ms more in a workload than from outside (the socket
    avoids the question). Not permanent in the kernel, so set before each answer is read."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is not None and quickack is not None and sock.family != socket.AF_UNIX:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _post(body: bytes, headers: dict[str, str]) -> bytes:
    url = _endpoint()
    try:
        return _post_to(url, body, headers)
    except _SocketUnreachable:
        _unreachable.add(url)
        return _post_to(_endpoint(), body, headers)


def _post_to(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    path = "/model" if url.startswith(_SOCKET) else (urlparse(url).path or "/")
    for _attempt in range(2):
        connection, reused = _connection(url)
        if not reused and url.startswith(_SOCKET):
            try:
                connection.connect()
            except OSError as exc:  # no such socket, or nobody listens on it
                connection.close()
                _connections.held = None
                raise _SocketUnreachable(str(exc)) from exc
        try:
            connection.request("POST", path, body=body, headers=headers)
            _acknowledge_at_once(connection.sock)
            response = connection.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            connection.close()
            _connections.held = None
            if reused:
                continue  # the server had closed the idle connection: once more, afresh
            raise
        except BaseException:
            connection.close()
            _connections.held = None
            raise
        if response.will_close:
            connection.close()
            _connections.held = None
        else:
            _connections.held = (url, connection, time.monotonic())
        return data
    raise ConnectionError(f"{url} closed the connection")  # not reached: the loop returns


def call_model(model_access_key: str, ipt: Any, api_key: str | None = None) -> Any:
    """POST ``ipt`` to the model with ``model_access_key``; return the decoded JSON body.

    Sends ``Authorization: Bearer <api_key or CDSW_APIV2_KEY>``. Non-2xx responses with a
    JSON body are returned too; only transport errors and non-JSON bodies raise. Calls from
    one thread reuse one kept-alive connection.

    Example::

        r = call_model("mkvxq2...", {"tenure": 3})
        r["response"]
    """
    body = json.dumps({"accessKey": model_access_key, "request": ipt}).encode()
    key = api_key or os.environ.get("CDSW_APIV2_KEY", "")
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = _post(body, headers)
    return json.loads(data.decode("utf-8"))

"""The model gateway: CML's ``POST /model`` (compat §5), in front of the model replicas.

A pure ASGI layer, outermost in the app, so a prediction skips sessions, routing and the
upload-size middleware. It answers:

- ``POST /model`` on ``modelservice.<domain>`` and on the server's own address, body
  ``{"accessKey", "request"}`` (``?accessKey=`` wins), and the legacy
  ``POST /api/altus-ds-1/models/call-model``; ``OPTIONS`` preflights (CORS, §5.4).

On the request path there is no database write and, in the steady state, no database read:
models are found by the SHA-256 of their access key in an in-memory route cache (entries live
``model_route_cache_seconds``; this process drops them at once when a key is regenerated,
authentication switched, or replicas change: ``serving.epoch``); Bearer keys are checked
against the same cache. A replica is chosen by least outstanding requests among healthy
replicas with a free slot; when none is free the request waits up to ``model_queue_seconds``,
then gets ``429 model.busy``. A replica runs ``model_replica_concurrency`` calls at once (one, as
in CML) and has ``model_replica_queue`` more slots (one by default): those calls are sent ahead
and wait in the replica, which then starts the next prediction as soon as one ends instead of
idling for the gateway's round trip (README, Measured). A call waiting in a replica that
crashes fails with it (``502 model.crashed``); with a queue of 0 it would have waited in the
gateway. The call to the replica goes over the Unix socket its executor made for it (the
local executor's: no TCP, and no pasta relaying into the replica's network namespace), else
to its port; it is bounded by the deployment's timeout (``504 model.timeout``). Every
request gets a prediction uuid; its timing (and, for metrics-enabled models, the prediction
record) goes to the metrics writer, which stores them in batches.
Prediction uuids are time-ordered (UUIDv7, RFC 9562): the metrics store's unique index on them
then grows at its right edge instead of at random pages, which kept the batches' cost rising
with the table (README, Measured).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uuid_utils
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks import bounds
from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.models import MODEL_SERVICE_HOST, DeploymentStatus
from lakeworks.entities.users import ApiKeyKind
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import Unauthenticated
from lakeworks.services.access_cache import AccessCache
from lakeworks.services.platform import Platform
from lakeworks.serving import local_socket
from lakeworks.serving.replica_client import (
    ReplicaGone,
    ReplicaPool,
    ReplicaTimeout,
    ReplicaUnreachable,
)

log = logging.getLogger(__name__)

MODEL_PATHS = frozenset({"/model", "/model/", "/api/altus-ds-1/models/call-model"})
CONNECT_RETRIES = 2
NOT_AUTHORIZED = "User APikey not authorized to access model"


@dataclass
class _Waiter:
    """A request waiting for a free replica slot."""

    future: asyncio.Future[ReplicaState]
    exclude: set[str]


def _expire(waiter: _Waiter) -> None:
    if not waiter.future.done():
        waiter.future.set_exception(
            GatewayError(429, "model.busy", "All replicas of the model are busy; try again later.")
        )


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class ReplicaState:
    """What this process knows of one replica: where it is (``socket``: the Unix socket the
    executor made for it, called instead of ``address`` when there is one) and how busy it
    is here."""

    workload_id: str
    address: str
    socket: str = ""
    outstanding: int = 0
    healthy: bool = True


@dataclass
class Route:
    model_id: str
    project_id: str
    auth_enabled: bool
    deployment_id: str | None
    build_id: str | None
    timeout: float
    replicas: list[ReplicaState] = field(default_factory=list)
    expires: float = 0.0
    epoch: int = 0


def gateway_for(platform: Platform) -> Gateway:
    """This process's gateway for ``platform`` (the UI's Test tab calls models through it).
    Its replica pool is closed by ``ModelGateway`` at the server's shutdown (it belongs to the
    event loop), not by ``Platform.close()``."""
    return platform.component(Gateway, lambda: Gateway(platform))


class Gateway:
    """State shared by every request of one server process."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings
        self._routes: dict[str, Route | None] = {}  # key hash -> route (None: no such key)
        self._route_times: dict[str, tuple[float, int]] = {}
        self._replicas: dict[str, ReplicaState] = {}  # workload id -> state (kept across reads)
        # Bearer key + project -> may read (refusals too: their message names nothing).
        self._allowed = AccessCache(platform, lambda s: s.model_route_cache_seconds)
        self._waiters: dict[str, deque[_Waiter]] = {}  # model id -> requests waiting
        self._pool: ReplicaPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._loading: dict[str, asyncio.Future[Route | None]] = {}

    # Routes -------------------------------------------------------------------------

    async def route(self, key_hash: str) -> Route | None:
        now = time.monotonic()
        stamp = self._route_times.get(key_hash)
        if stamp is not None and stamp[0] > now and stamp[1] == self.platform.model_epoch:
            return self._routes[key_hash]
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Route | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        try:
            current_epoch = self.platform.model_epoch
            route = await run_in_threadpool(self._read_route, key_hash)
            if route is not None:
                route.replicas = [self._merge(r) for r in route.replicas]
            self._routes[key_hash] = route
            self._route_times[key_hash] = (
                time.monotonic() + self.settings.model_route_cache_seconds,
                current_epoch,
            )
            future.set_result(route)
            return route
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            self._loading.pop(key_hash, None)

    def _merge(self, fresh: ReplicaState) -> ReplicaState:
        known = self._replicas.get(fresh.workload_id)
        if known is None or (known.address, known.socket) != (fresh.address, fresh.socket):
            self._replicas[fresh.workload_id] = fresh
            return fresh
        return known

    def _read_route(self, key_hash: str) -> Route | None:
        with self.platform.read() as uow:
            model = uow.models.by_key_hash(key_hash)
            if model is None:
                return None
            serving = [
                d
                for d in uow.models.deployments_of(model.id)
                if d.status is DeploymentStatus.DEPLOYED
            ]
            deployment = serving[-1] if serving else None
            replicas = []
            if deployment is not None:
                for replica in uow.models.replicas_of(deployment.id):
                    if not replica.ready:
                        continue
                    workload = uow.workloads.get(replica.workload_id)
                    if (
                        workload is not None
                        and workload.status is WorkloadStatus.RUNNING
                        and workload.address
                    ):
                        socket = self.platform.executor.socket_path(workload.handle)
                        replicas.append(ReplicaState(workload.id, workload.address, socket))
        timeout = self.settings.model_timeout_seconds
        if deployment is not None and deployment.timeout_seconds:
            timeout = deployment.timeout_seconds
        return Route(
            model_id=model.id,
            project_id=model.project_id,
            auth_enabled=model.auth_enabled,
            deployment_id=deployment.id if deployment else None,
            build_id=deployment.build_id if deployment else None,
            timeout=timeout,
            replicas=replicas,
        )

    # Authentication -------------------------------------------------------------------

    async def authorize(self, route: Route, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise GatewayError(
                401,
                "auth.failed",
                "This model needs an API key: send 'Authorization: Bearer <API v2 key>'.",
            )
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        cache_key = (token_hash, route.project_id)
        allowed = self._allowed.get(cache_key)
        if allowed is None:
            access_epoch = self.platform.access_epoch
            allowed = await run_in_threadpool(self._may_read, token, route.project_id)
            self._allowed.put(cache_key, allowed, access_epoch)
        if not allowed:
            raise GatewayError(403, "auth.failed", NOT_AUTHORIZED)

    def _may_read(self, token: str, project_id: str) -> bool:
        """A live v2 key whose user can read the project (workload keys: their own project
        only); a read, no last-used write."""
        from lakeworks.services.auth import authenticate_key
        from lakeworks.services.permissions import effective_role

        try:
            principal = authenticate_key(self.platform, token, ApiKeyKind.V2, note_use=False)
        except Unauthenticated:
            return False
        with self.platform.read() as uow:
            project = uow.projects.get(project_id)
            return project is not None and effective_role(uow, principal, project) is not None

    # Balancing ------------------------------------------------------------------------

    def _pick(self, route: Route, exclude: set[str]) -> ReplicaState | None:
        limit = self.settings.model_replica_concurrency + self.settings.model_replica_queue
        best = None
        for replica in route.replicas:
            if not replica.healthy or replica.workload_id in exclude:
                continue
            if replica.outstanding >= limit:
                continue
            if best is None or replica.outstanding < best.outstanding:
                best = replica
        return best

    async def acquire(self, route: Route, exclude: set[str]) -> ReplicaState:
        """A replica with a free slot (least outstanding), waiting up to the queue limit.

        Waiting requests are served first come, first served: a freed slot is handed to the
        oldest waiter (``release``), and a new request joins the queue behind them instead of
        taking the slot. Without that, requests arriving while the freed slot's waiter woke up
        took it, and under load a few requests waited many times the median (p99 50 times p50).
        """
        queue = self._waiters.get(route.model_id)
        if not queue:
            replica = self._pick(route, exclude)
            if replica is not None:
                replica.outstanding += 1
                return replica
        if not any(r.healthy and r.workload_id not in exclude for r in route.replicas):
            raise GatewayError(
                503, "model.unavailable", "The model has no running replica right now."
            )
        if queue is None:
            queue = self._waiters[route.model_id] = deque()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), exclude)
        queue.append(waiter)
        timer = asyncio.get_running_loop().call_later(
            self.settings.model_queue_seconds, _expire, waiter
        )
        try:
            return await waiter.future
        except asyncio.CancelledError:
            # The client went away; a slot handed over meanwhile goes to the next waiter.
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(route, future.result())
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                queue.remove(waiter)

    def release(self, route: Route, replica: ReplicaState) -> None:
        replica.outstanding -= 1
        queue = self._waiters.get(route.model_id)
        while queue:
            waiter = queue[0]
            if waiter.future.done():  # timed out or cancelled
                queue.popleft()
                continue
            picked = self._pick(route, waiter.exclude)
            if picked is None:
                return
            queue.popleft()
            picked.outstanding += 1
            waiter.future.set_result(picked)

    # Calling a replica ----------------------------------------------------------------

    def pool(self) -> ReplicaPool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            self._pool = ReplicaPool()
            self._pool_loop = loop
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(RuntimeError):  # its event loop is gone
                await pool.close()

    async def predict(
        self, route: Route, payload: bytes, prediction_uuid: str
    ) -> tuple[int, bytes, bytes, str]:
        """(status, record line, envelope, replica id) from a replica."""
        tried: set[str] = set()
        for _attempt in range(CONNECT_RETRIES + 1):
            replica = await self.acquire(route, tried)
            try:
                status, body = await self.pool().post(
                    replica.address,
                    "/predict",
                    payload,
                    {"X-Lakeworks-Uuid": prediction_uuid},
                    # Sent ahead, a call may first wait out the ones before it in the replica.
                    timeout=route.timeout * (1 + self.settings.model_replica_queue) + 5.0,
                    socket=replica.socket,
                )
            except ReplicaUnreachable:
                # Never reached the replica (stopped, restarting): safe to try another.
                replica.healthy = False
                tried.add(replica.workload_id)
                continue
            except ReplicaTimeout as exc:
                raise GatewayError(
                    504,
                    "model.timeout",
                    f"The model did not answer within {route.timeout:g} seconds.",
                ) from exc
            except ReplicaGone as exc:
                replica.healthy = False
                raise GatewayError(
                    502,
                    "model.crashed",
                    "The model replica ended while handling the request; it is being restarted.",
                ) from exc
            finally:
                self.release(route, replica)
            cut = body.find(b"\n")
            if cut < 0:
                return status, b"null", body, replica.workload_id
            return status, body[:cut], body[cut + 1 :], replica.workload_id
        raise GatewayError(503, "model.unavailable", "No replica of the model could be reached.")

    async def test_call(
        self, access_key_hash: str, request: Any, writer: Any = None
    ) -> tuple[int, dict[str, Any]]:
        """Call a model as the UI's Test tab does (the caller checked the user may read the
        project): (status, envelope). Counted in monitoring like any other call."""
        prediction_uuid = new_prediction_uuid()
        started = time.perf_counter()
        at_ms = int(time.time() * 1000)
        route: Route | None = None
        replica_id: str | None = None
        try:
            route = await self.route(access_key_hash)
            if route is None:
                raise GatewayError(404, "model.not_found", "No model has this access key.")
            if route.deployment_id is None:
                raise GatewayError(503, "model.unavailable", "The model has no running deployment.")
            status, record, envelope, replica_id = await self.predict(
                route, json.dumps(request).encode(), prediction_uuid
            )
            body = json.loads(envelope)
            if writer is not None and record != b"null":
                submit_prediction(writer, route, record)
            code = _error_code(envelope) if status >= 400 else None
        except GatewayError as exc:
            status, code = exc.status, exc.code
            body = {"success": False, "errors": {"message": exc.message, "code": exc.code}}
        if writer is not None and route is not None:
            submit_sample(writer, _sample(route, replica_id, at_ms, started, status, code))
        return status, body


# The ASGI layer ---------------------------------------------------------------------------


def _cors_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    origin = b"*"
    for name, value in scope.get("headers", []):
        if name == b"origin":
            origin = value
            break
    headers = [(b"access-control-allow-origin", origin)]
    if origin != b"*":
        headers.append((b"vary", b"Origin"))
    return headers


async def _send_json(
    send: Send,
    scope: Scope,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_cors_headers(scope),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _envelope(code: str, message: str) -> bytes:
    return json.dumps({"success": False, "errors": {"message": message, "code": code}}).encode()


class ModelGateway:
    """ASGI middleware: model calls are answered here; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.gateway = gateway_for(platform)
        self.settings = platform.settings
        domain = platform.settings.domain.lower()
        self._domain = domain
        self._service_host = f"{MODEL_SERVICE_HOST}.{domain}"

    def _ours(self, scope: Scope) -> bool:
        if scope["path"] not in MODEL_PATHS:
            return False
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").lower()
                break
        if not host or host == self._service_host or host.startswith(MODEL_SERVICE_HOST + "."):
            return True
        # <app>.<domain>/model belongs to that application, not to the gateway.
        return not host.endswith("." + self._domain)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] == "http" and local_socket.on_socket(scope):
            # Workloads' socket (``local_socket``): model calls only, whatever the Host.
            if scope["path"] in MODEL_PATHS:
                await self.handle(scope, receive, send)
            else:
                await _send_json(
                    send,
                    scope,
                    404,
                    _envelope("not_found", "This socket answers POST /model only."),
                )
            return
        if scope["type"] != "http" or not self._ours(scope):
            if scope["type"] == "websocket" and local_socket.on_socket(scope):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Callable[[Message], Awaitable[None]]:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.gateway.close()
            await send(message)

        return wrapped

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *_cors_headers(scope),
                        (b"access-control-allow-methods", b"POST, OPTIONS"),
                        (b"access-control-allow-headers", b"Content-Type, Authorization"),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        started = time.perf_counter()
        at_ms = int(time.time() * 1000)
        prediction_uuid = new_prediction_uuid()
        route: Route | None = None
        replica_id: str | None = None
        status = 500
        code: str | None = None
        try:
            if method != "POST":
                raise GatewayError(405, "request.invalid", f"Call models with POST, not {method}.")
            body = await self._read_body(scope, receive)
            route, request_payload = await self._resolve(scope, body)
            if route.auth_enabled:
                authorization = ""
                for name, value in scope.get("headers", []):
                    if name == b"authorization":
                        authorization = value.decode("latin-1")
                        break
                await self.gateway.authorize(route, authorization)
            if route.deployment_id is None:
                raise GatewayError(503, "model.unavailable", "The model has no running deployment.")
            status, record, envelope, replica_id = await self.gateway.predict(
                route, request_payload, prediction_uuid
            )
            if status >= 400:
                code = _error_code(envelope)
            await _send_json(
                send,
                scope,
                status,
                envelope,
                [(b"x-lakeworks-prediction-uuid", prediction_uuid.encode())],
            )
            if record != b"null" and route.deployment_id and route.build_id:
                self._submit_prediction(scope, route, record)
        except GatewayError as exc:
            status, code = exc.status, exc.code
            allow = [(b"allow", b"POST, OPTIONS")] if exc.status == 405 else None
            await _send_json(send, scope, exc.status, _envelope(exc.code, exc.message), allow)
        except Exception:
            log.exception("model gateway failed")
            status, code = 500, "gateway.error"
            await _send_json(
                send, scope, 500, _envelope("gateway.error", "The model gateway failed.")
            )
        finally:
            if route is not None:
                self._submit_sample(scope, _sample(route, replica_id, at_ms, started, status, code))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.model_request_max_bytes
        too_large = GatewayError(
            413,
            "request.too_large",
            f"The request body is larger than {limit} bytes (LAKEWORKS_MODEL_REQUEST_MAX_BYTES).",
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        raise too_large
                except ValueError:
                    pass
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise GatewayError(400, "request.invalid", "The client went away.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _resolve(self, scope: Scope, body: bytes) -> tuple[Route, bytes]:
        try:
            data = bounds.loads(body)
        except ValueError as exc:  # JSONDecodeError: not JSON, NaN, or nested too deep
            raise GatewayError(400, "request.invalid", f"The body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise GatewayError(
                400, "request.invalid", 'The body must be {"accessKey": ..., "request": ...}.'
            )
        key = data.get("accessKey")
        query = scope.get("query_string", b"")
        if query:
            from_query = parse_qs(query.decode("latin-1")).get("accessKey")
            if from_query:
                key = from_query[0]
        if not key or not isinstance(key, str):
            raise GatewayError(400, "request.invalid", "The access key is missing (accessKey).")
        if "request" not in data:
            raise GatewayError(400, "request.invalid", "The body has no 'request'.")
        route = await self.gateway.route(hashlib.sha256(key.encode()).hexdigest())
        if route is None:
            raise GatewayError(404, "model.not_found", "No model has this access key.")
        return route, json.dumps(data["request"]).encode()

    def _submit_sample(self, scope: Scope, sample: RequestSample) -> None:
        writer = _writer(scope)
        if writer is not None:
            submit_sample(writer, sample)

    def _submit_prediction(self, scope: Scope, route: Route, record_line: bytes) -> None:
        writer = _writer(scope)
        if writer is not None:
            submit_prediction(writer, route, record_line)


def new_prediction_uuid() -> str:
    """A prediction's uuid: a UUIDv7, ordered by time (and, within a millisecond, by call in
    this process), so the metrics store inserts it at the end of its index."""
    return str(uuid_utils.uuid7())


def _sample(
    route: Route, replica_id: str | None, at_ms: int, started: float, status: int, code: str | None
) -> RequestSample:
    return RequestSample(
        model_id=route.model_id,
        deployment_id=route.deployment_id,
        replica_id=replica_id,
        at_ms=at_ms,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        status=status,
        code=code,
    )


def submit_sample(writer: Any, sample: RequestSample) -> None:
    try:
        writer.submit_request(sample)
    except Exception:  # metrics must never fail a prediction
        log.exception("metrics writer refused a request sample")


def submit_prediction(writer: Any, route: Route, record_line: bytes) -> None:
    """Hand the replica's record of a metrics-enabled prediction to the metrics writer."""
    if route.deployment_id is None or route.build_id is None:
        return
    try:
        record = json.loads(record_line)
        writer.submit_prediction(
            PredictionRecord(
                deployment_id=route.deployment_id,
                build_id=route.build_id,
                model_id=route.model_id,
                prediction_uuid=str(record["uuid"]),
                start_ms=int(record["start_ms"]),
                end_ms=int(record["end_ms"]),
                metrics=dict(record.get("metrics") or {}),
            )
        )
    except Exception:
        log.exception("could not record a prediction")


def _writer(scope: Scope) -> Any:
    """The metrics writer at ``app.state.metrics`` (Starlette puts the app in the scope)."""
    return getattr(getattr(scope.get("app"), "state", None), "metrics", None)


def _error_code(envelope: bytes) -> str | None:
    try:
        return str(json.loads(envelope)["errors"]["code"])
    except (ValueError, KeyError, TypeError):
        return None

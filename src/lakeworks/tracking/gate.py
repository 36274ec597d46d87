"""The gate in front of the embedded MLflow app: authentication, project scoping, artifacts.

Every request to the mount is authenticated like API v2 (Bearer API key, which includes the
workload's key from ``MLFLOW_TRACKING_TOKEN``, or the browser session cookie) and then matched
against ``RULES``: each MLflow endpoint Lakeworks exposes names the object it touches and
whether it reads or writes. MLflow 3's logged models (``logged-models/<id>``) belong to their
experiment's project. GraphQL requests (MLflow's UI) are parsed and each root field's objects
checked (``graphql_scope``). Endpoints not in the table (webhooks, the artifact proxy, prompts,
workspaces, MLflow's own sign-in) answer 404: Lakeworks does not offer them. Features the UI
asks about on every page but Lakeworks does not offer get an honest empty answer instead
(``_EMPTY_ANSWERS``: no traces, no assistant provider; the AI gateway's proxy: no endpoints),
since MLflow's UI shows an error for any other answer. MLflow's page loads Lakeworks' UI
defaults first (``_UI_DEFAULTS``: the classic "Model training" view).

- Objects are checked against their project (``access.authorize``); list and search responses
  are filtered to readable projects (a page may hold fewer items than asked for; its
  ``next_page_token`` still leads on).
- Creating an experiment or registered model puts it in the caller's project: the workload
  key's project, or the ``lakeworks.project_id`` tag the caller sends. Clients cannot set or
  delete ``lakeworks.*`` tags, and an experiment's artifact location is always
  ``/home/cdsw/.experiments/<id>``.
- Artifacts are served from the project's directory (``paths.server_path``), not by MLflow,
  which would look for ``/home/cdsw`` on the server.
- A run's user (``mlflow.user``, MLflow UI's "User" column) is the Lakeworks user who
  created it, not the sandbox's account the client guessed it from.
- Experiments of no project (MLflow's ``Default``) are left out of experiment lists: nothing
  can be logged there, so they would only be an empty orphan in the UI.
- Browser writes (cookie-authenticated) must come from Lakeworks' own origin; together with
  the ``SameSite=Lax`` session cookie this stands in for the CSRF token MLflow's UI cannot send.

Errors use MLflow's body (``{"error_code": ..., "message": ...}``) so MLflow clients raise
``MlflowException`` with the message.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks import heap, safe_paths
from lakeworks.errors import (
    Conflict,
    DatabaseNotMigrated,
    InvalidInput,
    LakeworksError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    http_status,
)
from lakeworks.services.access_cache import AccessCache
from lakeworks.services.experiment_access import authorize as _authorize
from lakeworks.services.experiment_access import principal_key, readable_projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.tracking import MOUNT_PATH
from lakeworks.tracking.embedded import Tracking, bind_handlers, tracking_for
from lakeworks.tracking.graphql_scope import touched
from lakeworks.tracking.paths import server_path
from lakeworks.tracking.registry import version_source_dir
from lakeworks.tracking.scope import (
    MODEL_ID_TAG,
    PROJECT_TAG,
    RESERVED_PREFIX,
    VERSION_ID_TAG,
)

USER_TAG = "mlflow.user"

_MLFLOW_CODES = {
    NotFound.code: "RESOURCE_DOES_NOT_EXIST",
    PermissionDenied.code: "PERMISSION_DENIED",
    Unauthenticated.code: "UNAUTHENTICATED",
    InvalidInput.code: "INVALID_PARAMETER_VALUE",
    Conflict.code: "RESOURCE_ALREADY_EXISTS",
    PayloadTooLarge.code: "INVALID_PARAMETER_VALUE",
    DatabaseNotMigrated.code: "TEMPORARILY_UNAVAILABLE",
}

# Endpoint (after ``/api/2.0/mlflow/`` or ``/ajax-api/2.0/mlflow/``) -> (kind, access).
# kind names what identifies the object; access is "read" or "write".
RULES: dict[str, tuple[str, str]] = {
    "experiments/create": ("new_experiment", "write"),
    "experiments/get": ("experiment", "read"),
    "experiments/get-by-name": ("experiment_by_name", "read"),
    "experiments/search": ("experiment_search", "read"),
    "experiments/delete": ("experiment", "write"),
    "experiments/restore": ("experiment", "write"),
    "experiments/update": ("experiment", "write"),
    "experiments/set-experiment-tag": ("experiment", "write"),
    "experiments/search-datasets": ("experiments", "read"),
    "runs/create": ("experiment", "write"),
    "runs/get": ("run", "read"),
    "runs/search": ("experiments", "read"),
    "runs/update": ("run", "write"),
    "runs/delete": ("run", "write"),
    "runs/restore": ("run", "write"),
    "runs/log-metric": ("run", "write"),
    "runs/log-parameter": ("run", "write"),
    "runs/set-tag": ("run", "write"),
    "runs/delete-tag": ("run", "write"),
    "runs/log-batch": ("run", "write"),
    "runs/log-model": ("run", "write"),
    "runs/log-inputs": ("run", "write"),
    "metrics/get-history": ("run", "read"),
    "metrics/get-history-bulk": ("runs", "read"),
    "metrics/get-history-bulk-interval": ("runs", "read"),
    "artifacts/list": ("run_artifacts", "read"),
    "registered-models/create": ("new_model", "write"),
    "registered-models/get": ("model", "read"),
    "registered-models/search": ("model_search", "read"),
    "registered-models/get-latest-versions": ("model", "read"),
    "registered-models/rename": ("model", "write"),
    "registered-models/update": ("model", "write"),
    "registered-models/delete": ("model", "write"),
    "registered-models/set-tag": ("model", "write"),
    "registered-models/delete-tag": ("model", "write"),
    "registered-models/alias": ("model", "by_method"),
    "model-versions/create": ("new_version", "write"),
    "model-versions/get": ("model", "read"),
    "model-versions/get-download-uri": ("model", "read"),
    "model-versions/search": ("version_search", "read"),
    "model-versions/update": ("model", "write"),
    "model-versions/delete": ("model", "write"),
    "model-versions/transition-stage": ("model", "write"),
    "model-versions/set-tag": ("model", "write"),
    "model-versions/delete-tag": ("model", "write"),
    # MLflow 3's logged models (the 3.x client's ``log_model``); ``{id}`` is the model id.
    "runs/outputs": ("run", "write"),
    "experiments/delete-experiment-tag": ("experiment", "write"),
    "logged-models/create": ("new_logged_model", "write"),
    "logged-models/search": ("experiments", "read"),
    "logged-models/{id}": ("logged_model", "by_method"),
    "logged-models/{id}/params": ("logged_model", "write"),
    "logged-models/{id}/tags": ("logged_model", "write"),
    "logged-models/{id}/tags/{key}": ("logged_model", "write"),
    # MLflow's store type and features (no project data).
    "server-info": ("server", "read"),
}
# MLflow 3 features Lakeworks does not offer (tracing, GenAI evaluation), which MLflow's UI
# asks about on the experiment and run pages: an honest empty answer, so the UI shows "no
# traces" instead of an error. Any other unknown endpoint is refused (404).
_EMPTY_ANSWERS: dict[tuple[str, str], bytes] = {
    ("GET", "traces"): b'{"traces": []}',
    ("POST", "traces/search"): b'{"traces": []}',
    ("GET", "unified-traces"): b'{"traces": []}',
    ("POST", "traces/metrics"): b'{"data_points": []}',
    # MLflow's assistant (an LLM agent run on the server) is not offered.
    (
        "GET",
        "assistant/config",
    ): b'{"providers": {}, "projects": {}, "remote_access_allowed": false}',
    (
        "GET",
        "assistant/providers",
    ): b'{"providers": [], "resolved": null, "gateway_vendor_options": {}}',
}
_API_PREFIXES = (
    "/api/2.0/mlflow/",
    "/ajax-api/2.0/mlflow/",
    "/api/3.0/mlflow/",
    "/ajax-api/3.0/mlflow/",
)
_AUDITED = {
    "experiments/create": "experiment.create",
    "experiments/delete": "experiment.delete",
    "experiments/restore": "experiment.restore",
    "experiments/update": "experiment.update",
    "runs/delete": "experiment_run.delete",
    "registered-models/create": "registered_model.create",
    "registered-models/rename": "registered_model.rename",
    "registered-models/delete": "registered_model.delete",
    "model-versions/create": "model_version.create",
    "model-versions/delete": "model_version.delete",
    "model-versions/transition-stage": "model_version.transition",
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Answers filtered to what the caller may read before they are sent.
_FILTERED = {
    "experiments/search",
    "registered-models/search",
    "model-versions/search",
}
# Endpoints whose answer the gate reads (to filter it, remember ids, or audit the call); the
# rest are passed through as MLflow wrote them.
_READS_ANSWER = {
    "experiments/create",
    "runs/create",
    "experiments/get-by-name",
    "experiments/search",
    "registered-models/search",
    "model-versions/search",
    "registered-models/rename",
    "registered-models/delete",
    *_AUDITED,
}


@dataclass
class Call:
    """One MLflow API request as the gate sees it."""

    endpoint: str
    method: str
    params: dict[str, Any]  # the JSON body, or the query string (lists for repeated keys)
    body_changed: bool = False
    project_id: str = ""  # of the object touched, once known


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _many(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# Kinds of call ``_check_known`` may answer from memory, and the parameter naming their object.
_KNOWN_KINDS = {"run": ("run_id", "run_uuid"), "experiment": ("experiment_id",)}


def _known_key(principal: Principal, call: Call) -> tuple[object, ...] | None:
    """The access-cache key of ``call``'s check, for the calls ``_check_known`` may answer."""
    kind, access = RULES[call.endpoint]
    names = _KNOWN_KINDS.get(kind)
    # runs/create also rewrites the run's user; "by_method" endpoints are not run or
    # experiment calls.
    if names is None or access == "by_method" or call.endpoint == "runs/create":
        return None
    object_id = ""
    for name in names:
        object_id = object_id or _first(call.params.get(name))
    if not object_id:
        return None
    return ("checked", *principal_key(principal), kind, object_id, access == "write")


def _error_response(error: LakeworksError) -> tuple[int, bytes]:
    body = {
        "error_code": _MLFLOW_CODES.get(error.code, "INTERNAL_ERROR"),
        "message": error.message,
    }
    return http_status(error), json.dumps(body).encode()


# The check of each kind of endpoint (``RULES``), a method of ``TrackingGate``; the kinds not
# here (searches, artifact listings) are filtered in their responses instead.
_CHECKS = {
    "experiment": "_check_experiment",
    "experiments": "_check_experiments",
    "run": "_check_run",
    "runs": "_check_runs",
    "model": "_check_model",
    "new_experiment": "_check_new_experiment",
    "new_model": "_check_new_model",
    "new_version": "_check_new_version",
    "logged_model": "_check_logged_model",
    "new_logged_model": "_check_new_logged_model",
}


class TrackingGate:
    """ASGI app mounted at ``MOUNT_PATH``: checks each request, then hands it to MLflow."""

    def __init__(self, platform: Platform, mlflow_app: ASGIApp | None = None) -> None:
        self.platform = platform
        self._mlflow_app = mlflow_app
        self._mlflow_wsgi: Any = None
        # Identities and allowed checks, for tracking_auth_cache_seconds (see access_cache).
        self.access = AccessCache(platform, lambda s: s.tracking_auth_cache_seconds)

    @property
    def mlflow_wsgi_app(self) -> Any:
        """MLflow's Flask app, for API calls the gate answers whole (``_call_flask``)."""
        if self._mlflow_wsgi is None:
            self._mlflow_wsgi = mlflow_wsgi_app()
        return self._mlflow_wsgi

    @property
    def mlflow_app(self) -> ASGIApp:
        # Imported on first use: MLflow's server modules take seconds to import.
        if self._mlflow_app is None:
            self._mlflow_app = mlflow_asgi_app()
        return self._mlflow_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        method = scope["method"]
        if path == "/" + _DEFAULTS_SCRIPT and method == "GET":
            headers = [(b"content-type", b"text/javascript"), (b"cache-control", b"no-cache")]
            await _send(send, 200, _UI_DEFAULTS, headers)
            return
        if path.startswith("/static-files/") or path in ("/health", "/version", "/favicon.ico"):
            await self.mlflow_app(scope, receive, send)
            return
        try:
            principal = self._known_principal(scope)
            if principal is None:
                principal = await anyio.to_thread.run_sync(self._principal, scope)
        except LakeworksError as exc:
            await _send_error(send, exc)
            return
        if principal is None:
            if path in ("", "/") and method == "GET":
                await _send(send, 303, b"", [(b"location", f"/login?next={MOUNT_PATH}/".encode())])
                return
            await _send_error(
                send,
                Unauthenticated(
                    "MLflow calls to Lakeworks need credentials: set MLFLOW_TRACKING_TOKEN to "
                    "an API key (workloads get one), or sign in for the MLflow UI."
                ),
            )
            return
        if path in ("", "/"):
            await self._index(scope, send)
            return
        if (
            principal.via == "session"
            and method in _UNSAFE
            and not _same_origin(scope, self.platform)
        ):
            await _send_error(send, PermissionDenied("Cross-site request refused."))
            return
        body = b""
        if method in _UNSAFE:
            body = await _read_body(receive)
        try:
            await self._handle(scope, send, principal, path, method, body)
        except LakeworksError as exc:
            await _send_error(send, exc)

    @staticmethod
    def _key_hash(scope: Scope) -> str | None:
        """The SHA-256 of a Bearer key in the request (the identity cache's key), if any."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer" and token.strip():
                    return hashlib.sha256(token.strip()).hexdigest()
                return None
        return None

    def _known_principal(self, scope: Scope) -> Principal | None:
        key_hash = self._key_hash(scope)
        if key_hash is None:
            return None
        principal = self.access.get(("principal", key_hash))
        return principal if isinstance(principal, Principal) else None

    def _principal(self, scope: Scope) -> Principal | None:
        from lakeworks.web.auth import principal_from_request

        epoch = self.platform.access_epoch
        principal = principal_from_request(Request(scope), self.platform)
        key_hash = self._key_hash(scope)
        if principal is not None and key_hash is not None:
            self.access.put(("principal", key_hash), principal, epoch)
        return principal

    def _file_response(
        self, project_id: str, target: Path, relative: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        settings = self.platform.settings
        return _file_response(
            settings.projects_dir / project_id, target, relative, settings.max_archive_bytes
        )

    def _authorize(self, principal: Principal, project_id: str, *, write: bool, what: str) -> None:
        _authorize(self.platform, principal, project_id, write=write, what=what, cache=self.access)

    async def _index(self, scope: Scope, send: Send) -> None:
        """MLflow's page, with Lakeworks' defaults for its UI loaded before the UI itself."""
        tracking = await anyio.to_thread.run_sync(tracking_for, self.platform)
        bind_handlers(tracking)
        status, headers, content = await self._call_mlflow(scope, b"")
        if status == 200 and b"<head>" in content:
            tag = f'<head><script src="{_DEFAULTS_SCRIPT}"></script>'.encode()
            content = content.replace(b"<head>", tag, 1)
        await _send(send, status, content, headers)

    async def _handle(
        self, scope: Scope, send: Send, principal: Principal, path: str, method: str, body: bytes
    ) -> None:
        endpoint = ""
        for prefix in _API_PREFIXES:
            if path.startswith(prefix):
                endpoint = path[len(prefix) :].rstrip("/")
        if path in ("/get-artifact", "/model-versions/get-artifact"):
            endpoint = path.lstrip("/")
        if endpoint == "gateway-proxy" and method == "GET":
            await _send(send, 200, b'{"endpoints": []}', [(b"content-type", b"application/json")])
            return
        if path == "/graphql" and method == "POST":
            checked = await anyio.to_thread.run_sync(self._check_graphql, principal, scope, body)
            bind_handlers(checked)
            status, headers, content = await self._call_mlflow(scope, body)
            await _send(send, status, content, headers)
            return
        empty = _EMPTY_ANSWERS.get((method, endpoint))
        if empty is not None:
            await _send(send, 200, empty, [(b"content-type", b"application/json")])
            return
        endpoint, path_params = _route(endpoint, method)
        if not endpoint or (endpoint not in RULES and endpoint not in _ARTIFACT_ENDPOINTS):
            raise NotFound(f"MLflow endpoint {path!r} is not available in Lakeworks.")
        params = _parse_params(scope, method, body)
        call = Call(endpoint=endpoint, method=method, params={**params, **path_params})
        if endpoint in _ARTIFACT_ENDPOINTS or endpoint == "artifacts/list":
            status, headers, content = await anyio.to_thread.run_sync(
                self._artifacts, principal, call
            )
            await _send(send, status, content, headers)
            return
        # The check (it may query the databases), MLflow's Flask handler and the answer's
        # bookkeeping in one trip to a worker thread: on a busy machine each hop between the
        # event loop and a thread waits for a core, and costs more than the work it moves.
        # A check this key passed moments ago is answered from memory (``_check_known``).
        known = self._check_known(principal, call)
        status, headers, content = await anyio.to_thread.run_sync(
            self._checked_call, scope, principal, call, body, known
        )
        await _send(send, status, content, headers)

    def _checked_call(
        self, scope: Scope, principal: Principal, call: Call, body: bytes, known: Tracking | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        tracking = known or self._check(principal, call)
        if call.body_changed:
            body = json.dumps(call.params).encode()
        bind_handlers(tracking)
        status, headers, content = self._call_flask(scope, body)
        if status == 200 and call.endpoint in _READS_ANSWER:
            content = self._after(tracking, principal, call, content)
        return status, headers, content

    def _call_flask(
        self, scope: Scope, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """MLflow's Flask app called in this (worker) thread, its whole answer collected
        (without its Content-Length: ``_send`` sets it)."""
        from a2wsgi.wsgi import build_environ

        inner = dict(scope)
        inner["headers"] = [
            (k, v) for k, v in scope["headers"] if k.lower() != b"content-length"
        ] + [(b"content-length", str(len(body)).encode())]
        environ = build_environ(cast(Any, inner), cast(Any, io.BytesIO(body)))
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return chunks.append

        answer = self.mlflow_wsgi_app(environ, start_response)
        try:
            chunks.extend(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        status, headers = started
        return (
            int(status.split(" ", 1)[0]),
            [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers
                if name.lower() != "content-length"
            ],
            b"".join(chunks),
        )

    async def _call_mlflow(
        self, scope: Scope, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        inner = dict(scope)
        inner["headers"] = [
            (k, v) for k, v in scope["headers"] if k.lower() != b"content-length"
        ] + [(b"content-length", str(len(body)).encode())]
        await self.mlflow_app(inner, receive, capture)
        return status, headers, b"".join(chunks)

    # Checks before MLflow sees the request ------------------------------------------------

    def _check(self, principal: Principal, call: Call) -> Tracking:
        """Refuse the call unless the principal may make it; adjust its parameters.

        ``RULES`` names each endpoint's kind (what it acts on) and access; each kind has its
        check below (``_CHECKS``), as MLflow's own auth plugin keeps a validator per endpoint.
        """
        epoch = self.platform.access_epoch
        tracking = tracking_for(self.platform)
        kind, access = RULES[call.endpoint]
        if access == "by_method":
            access = "read" if call.method == "GET" else "write"
        _refuse_reserved_tags(call)
        method = _CHECKS.get(kind)  # searches and artifact reads are scoped on the way out
        if method is not None:
            getattr(self, method)(principal, call, tracking.scope, access == "write")
        known = _known_key(principal, call)
        if known is not None:
            self.access.put(known, call.project_id, epoch)
        return tracking

    def _check_known(self, principal: Principal, call: Call) -> Tracking | None:
        """``_check`` without the databases, when the same check of the same object for the
        same key passed within ``tracking_auth_cache_seconds`` and access has not changed
        through this process since (``AccessCache``); else None. Only for calls on one run or
        experiment whose check changes nothing in the call but its project: the project a run
        or experiment belongs to never changes (``scope``), and a deleted run or experiment is
        refused by MLflow itself, as it is after a full check."""
        known = _known_key(principal, call)
        if known is None:
            return None
        project = self.access.get(known)
        if not isinstance(project, str):
            return None
        _refuse_reserved_tags(call)
        call.project_id = project
        return tracking_for(self.platform)

    def _check_graphql(self, principal: Principal, asgi_scope: Scope, body: bytes) -> Tracking:
        """Refuse a GraphQL request (MLflow's UI) unless the principal may read all it reads."""
        tracking = tracking_for(self.platform)
        scope = tracking.scope
        for touch in touched(_parse_params(asgi_scope, "POST", body)):
            for object_id in touch.ids:
                if touch.kind == "experiment":
                    project, what = scope.experiment_project(object_id), "Experiment"
                else:
                    project, what = scope.run_project(object_id), "Run"
                self._authorize(principal, project, write=False, what=f"{what} {object_id!r}")
            if touch.kind == "model_versions":
                self._check_version_search(tracking, principal, touch.filter)
        return tracking

    def _check_version_search(self, tracking: Tracking, principal: Principal, filter: str) -> None:
        """A model version search answered unfiltered (GraphQL) may only find readable ones."""
        names: set[str] = set()
        token = None
        for _ in range(20):
            page = tracking.registry.search_model_versions(
                filter_string=filter, max_results=1000, page_token=token
            )
            names.update(str(v.name) for v in page)
            token = page.token
            if not token:
                break
        else:
            raise InvalidInput("This model version search finds too many; narrow its filter.")
        projects = {_safe_model_project(tracking.scope, name) for name in names}
        if projects - readable_projects(self.platform, principal, projects):
            raise PermissionDenied(
                "This model version search reaches registered models you cannot read; "
                "narrow its filter (for example run_id='<run id>')."
            )

    def _check_experiment(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        params = call.params
        experiment_id = _first(params.get("experiment_id")) or "0"
        project = scope.experiment_project(experiment_id)
        self._authorize(principal, project, write=write, what=f"Experiment {experiment_id!r}")
        call.project_id = project
        tags = params.get("tags") or []
        if call.endpoint == "runs/create" and isinstance(tags, list):
            # Who ran it is the caller (its key says so), not the account the client guessed
            # it from (``root`` or ``cdsw`` inside a workload).
            params["user_id"] = principal.user.username
            params["tags"] = [
                tag for tag in tags if not (isinstance(tag, dict) and tag.get("key") == USER_TAG)
            ] + [{"key": USER_TAG, "value": principal.user.username}]
            call.body_changed = True

    def _check_experiments(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        params = call.params
        for experiment_id in _many(params.get("experiment_ids")):
            project = scope.experiment_project(experiment_id)
            self._authorize(principal, project, write=False, what=f"Experiment {experiment_id!r}")
        # CML's order when the caller gives none (compat §9, a documented deviation).
        ascending = self.platform.settings.mlflow_run_order == "ascending"
        if call.endpoint == "runs/search" and not params.get("order_by") and ascending:
            params["order_by"] = ["attributes.start_time ASC"]
            call.body_changed = True

    def _check_run(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        run_id = _first(call.params.get("run_id") or call.params.get("run_uuid"))
        if not run_id:
            raise InvalidInput("The request names no run (run_id).")
        project = scope.run_project(run_id)
        self._authorize(principal, project, write=write, what=f"Run {run_id!r}")
        call.project_id = project

    def _check_runs(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        params = call.params
        for run_id in _many(params.get("run_id")) + _many(params.get("run_ids")):
            project = scope.run_project(run_id)
            self._authorize(principal, project, write=False, what=f"Run {run_id!r}")

    def _check_model(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        name = _first(call.params.get("name"))
        if not name:
            raise InvalidInput("The request names no registered model (name).")
        project = scope.model_project(name)
        self._authorize(principal, project, write=write, what=f"Registered model {name!r}")
        call.project_id = project

    def _check_logged_model(
        self, principal: Principal, call: Call, scope: Any, write: bool
    ) -> None:
        model_id = _first(call.params.get("model_id"))
        project = scope.logged_model_project(model_id)
        self._authorize(principal, project, write=write, what=f"Logged model {model_id!r}")
        call.project_id = project

    def _check_new_logged_model(
        self, principal: Principal, call: Call, scope: Any, write: bool
    ) -> None:
        self._check_experiment(principal, call, scope, write=True)
        run_id = _first(call.params.get("source_run_id"))
        if run_id and scope.run_project(run_id) != call.project_id:
            raise PermissionDenied(f"Run {run_id!r} is not in this experiment's project.")

    def _check_new_experiment(
        self, principal: Principal, call: Call, scope: Any, write: bool
    ) -> None:
        params = call.params
        project = self._creation_project(principal, params)
        self._authorize(principal, project, write=True, what="The project")
        # Artifacts always live in the project (CML compat §9); the store's default location
        # is /home/cdsw/.experiments/<experiment_id>.
        params.pop("artifact_location", None)
        params["tags"] = _with_tags(params.get("tags"), {PROJECT_TAG: project})
        call.body_changed = True
        call.project_id = project

    def _check_new_model(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        from lakeworks.services.ids import public_id

        params = call.params
        project = self._creation_project(principal, params)
        self._authorize(principal, project, write=True, what="The project")
        params["tags"] = _with_tags(
            params.get("tags"), {PROJECT_TAG: project, MODEL_ID_TAG: public_id()}
        )
        call.body_changed = True
        call.project_id = project

    def _check_new_version(self, principal: Principal, call: Call, scope: Any, write: bool) -> None:
        from lakeworks.services.ids import public_id

        params = call.params
        name = _first(params.get("name"))
        project = scope.model_project(name)
        self._authorize(principal, project, write=True, what=f"Registered model {name!r}")
        run_id = _first(params.get("run_id"))
        if run_id and scope.run_project(run_id) != project:
            raise PermissionDenied(
                f"Run {run_id!r} is not in the project of registered model {name!r}."
            )
        model_id = _first(params.get("model_id")) or _logged_model_of(_first(params.get("source")))
        if model_id and scope.logged_model_project(model_id) != project:
            raise PermissionDenied(
                f"Logged model {model_id!r} is not in the project of registered model {name!r}."
            )
        params["tags"] = _with_tags(params.get("tags"), {VERSION_ID_TAG: public_id()})
        call.body_changed = True
        call.project_id = project

    def _creation_project(self, principal: Principal, params: dict[str, Any]) -> str:
        tagged = ""
        for tag in params.get("tags") or []:
            if isinstance(tag, dict) and tag.get("key") == PROJECT_TAG:
                tagged = str(tag.get("value") or "")
        if principal.project_scope is not None:
            if tagged and tagged != principal.project_scope:
                raise PermissionDenied("This workload's key reaches its own project only.")
            return principal.project_scope
        if not tagged:
            raise InvalidInput(
                "Say which project this belongs to: create it inside one of the project's "
                f"workloads, from its Experiments page, or with the tag {PROJECT_TAG!r}."
            )
        return tagged

    # Responses: filtering and bookkeeping -------------------------------------------------

    def _after(self, tracking: Tracking, principal: Principal, call: Call, content: bytes) -> bytes:
        endpoint = call.endpoint
        try:
            data = json.loads(content or b"{}")
        except ValueError:
            return content
        scope = tracking.scope
        if endpoint == "experiments/create":
            scope.remember_experiment(str(data.get("experiment_id", "")), call.project_id)
        elif endpoint == "runs/create":
            info = (data.get("run") or {}).get("info") or {}
            if info.get("run_id"):
                scope.remember_run(info["run_id"], str(info.get("experiment_id", "")))
        elif endpoint == "experiments/get-by-name":
            experiment = data.get("experiment") or {}
            project = _tag(experiment.get("tags"), PROJECT_TAG)
            name = _first(call.params.get("experiment_name"))
            try:
                self._authorize(principal, project, write=False, what=f"Experiment {name!r}")
            except NotFound as exc:
                raise NotFound(f"Could not find experiment with name '{name}'") from exc
        elif endpoint in _FILTERED:
            content = json.dumps(self._filtered(scope, principal, endpoint, data)).encode()
        elif endpoint in ("registered-models/rename", "registered-models/delete"):
            scope.forget_model(_first(call.params.get("name")))
        action = _AUDITED.get(endpoint)
        if action:
            target = _first(
                call.params.get("name")
                or call.params.get("experiment_id")
                or call.params.get("run_id")
            )
            with self.platform.command(
                principal, action, target=target[:200], project_id=call.project_id or None
            ) as cmd:
                cmd.detail = {"via": "mlflow"}
        return content

    def _filtered(
        self, scope: Any, principal: Principal, endpoint: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """A search's or get's answer with only what ``principal`` may read."""
        if endpoint == "experiments/search":
            data["experiments"] = [
                item
                for item in self._readable(
                    principal,
                    data.get("experiments") or [],
                    lambda item: _tag(item.get("tags"), PROJECT_TAG),
                )
                if _tag(item.get("tags"), PROJECT_TAG)
            ]
        elif endpoint == "registered-models/search":
            data["registered_models"] = self._readable(
                principal,
                data.get("registered_models") or [],
                lambda item: _tag(item.get("tags"), PROJECT_TAG),
            )
        elif endpoint == "model-versions/search":
            data["model_versions"] = self._readable(
                principal,
                data.get("model_versions") or [],
                lambda item: _safe_model_project(scope, str(item.get("name", ""))),
            )
        return data

    def _readable(
        self, principal: Principal, items: list[dict[str, Any]], project_of: Callable[[Any], str]
    ) -> list[dict[str, Any]]:
        projects = [project_of(item) for item in items]
        allowed = readable_projects(self.platform, principal, set(projects))
        return [item for item, project in zip(items, projects, strict=True) if project in allowed]

    # Artifacts, from the project's directory --------------------------------------------

    def _artifact_root(
        self, tracking: Tracking, principal: Principal, call: Call
    ) -> tuple[str, str]:
        """(project id, artifact root URI) of the run or logged model a call names, once the
        principal may read it."""
        params = call.params
        if call.endpoint.startswith("logged-models/"):
            model_id = _first(params.get("model_id"))
            project = tracking.scope.logged_model_project(model_id)
            self._authorize(principal, project, write=False, what=f"Logged model {model_id!r}")
            return project, str(tracking.store.get_logged_model(model_id).artifact_location)
        run_id = _first(params.get("run_id") or params.get("run_uuid"))
        if not run_id:
            raise InvalidInput("The request names no run (run_id).")
        project = tracking.scope.run_project(run_id)
        self._authorize(principal, project, write=False, what=f"Run {run_id!r}")
        return project, str(tracking.store.get_run(run_id).info.artifact_uri)

    def _artifacts(
        self, principal: Principal, call: Call
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        tracking = tracking_for(self.platform)
        params = call.params
        relative = _first(params.get("path"))
        if call.endpoint == "model-versions/get-artifact":
            name = _first(params.get("name"))
            project = tracking.scope.model_project(name)
            self._authorize(principal, project, write=False, what=f"Registered model {name!r}")
            from mlflow.exceptions import MlflowException

            try:
                version = tracking.registry.get_model_version(name, _first(params.get("version")))
            except MlflowException as exc:
                raise NotFound(f"Version of registered model {name!r} not found.") from exc
            root = version_source_dir(self.platform.settings, tracking, project, version)
            target = (root / relative).resolve() if relative else root
            if not target.is_relative_to(root):
                raise InvalidInput(f"Artifact path {relative!r} is outside the model.")
            return self._file_response(project, target, relative)
        project, root_uri = self._artifact_root(tracking, principal, call)
        if call.endpoint.startswith("logged-models/"):
            relative = _first(
                params.get("artifact_file_path") or params.get("artifact_directory_path")
            )
        target = server_path(self.platform.settings, project, root_uri, relative)
        if call.endpoint in ("get-artifact", "logged-models/{id}/artifacts/files"):
            return self._file_response(project, target, relative)
        files = []
        if target.is_dir():
            for entry in sorted(target.iterdir(), key=lambda p: p.name):
                if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
                    continue  # workloads write artifacts: links and pipes are not listed
                item: dict[str, Any] = {
                    "path": f"{relative.rstrip('/')}/{entry.name}" if relative else entry.name,
                    "is_dir": entry.is_dir(),
                }
                if not entry.is_dir():
                    item["file_size"] = entry.stat().st_size
                files.append(item)
        body = json.dumps({"root_uri": root_uri, "files": files}).encode()
        return 200, [(b"content-type", b"application/json")], body


# Lakeworks' defaults for MLflow 3's UI, run before it starts (``_index``). The UI opens
# experiments in its GenAI view (traces, evaluations: not offered by Lakeworks) unless the
# browser keeps another choice of its "GenAI / Model training" switch; the default here is
# Model training (the runs table). A choice the user makes with the switch is kept. Its
# assistant panel (an LLM agent, not offered) is not opened by itself on the first visit.
_DEFAULTS_SCRIPT = "lakeworks-ui-defaults.js"
_UI_DEFAULTS = b"""try {
  var defaults = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": true
  };
  Object.keys(defaults).forEach(function (key) {
    if (window.localStorage.getItem(key) === null) {
      window.localStorage.setItem(key, JSON.stringify(defaults[key]));
    }
  });
} catch (e) {}
"""

_ARTIFACT_ENDPOINTS = {
    "get-artifact",
    "model-versions/get-artifact",
    "logged-models/{id}/artifacts/files",
    "logged-models/{id}/artifacts/directories",
}


def _route(endpoint: str, method: str) -> tuple[str, dict[str, str]]:
    """MLflow 3's endpoints with ids in the path (``logged-models/<id>/tags``) as their
    ``RULES`` key (``logged-models/{id}/tags``) and the ids as parameters."""
    parts = endpoint.split("/")
    if parts[0] != "logged-models":
        return endpoint, {}
    if len(parts) == 1:
        return ("logged-models/create" if method == "POST" else ""), {}
    if len(parts) == 2 and parts[1] == "search":
        return endpoint, {}
    params = {"model_id": parts[1]}
    rest = parts[2:]
    if rest[:1] == ["tags"] and len(rest) == 2:
        params["tag_key"] = rest[1]
        rest = ["tags", "{key}"]
    return "/".join(["logged-models", "{id}", *rest]), params


def _logged_model_of(source: str) -> str:
    """``m-abc`` for a version source ``models:/m-abc`` (a logged model), else ""."""
    if not source.startswith("models:/"):
        return ""
    rest = source[len("models:/") :].strip("/")
    return rest if rest.startswith("m-") and "/" not in rest else ""


# Served inline; anything else is a download, so an artifact can never run script in our origin.
_INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "application/json", "text/plain"}


def _file_response(
    root: Path, target: Path, relative: str, max_bytes: int
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``target`` (resolved, inside the project ``root``) read without following a link a
    workload may have swapped in meanwhile, and only if it is a plain, singly linked file."""
    if target.is_dir():
        raise NotFound(f"Artifact {relative!r} not found.")
    try:
        rel = target.relative_to(root.resolve()).as_posix()
        body = safe_paths.read_bytes(root, rel, max_bytes=max_bytes)
    except (ValueError, FileNotFoundError, IsADirectoryError):
        raise NotFound(f"Artifact {relative!r} not found.") from None
    guessed = mimetypes.guess_type(target.name)[0] or ""
    if guessed.startswith("text/") or target.suffix in (".yaml", ".yml", ".txt", ".log", ".py", ""):
        guessed = "text/plain"
    content_type = guessed if guessed in _INLINE_TYPES else "application/octet-stream"
    headers = [
        (b"content-type", content_type.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'none'; sandbox"),
    ]
    return 200, headers, body


def _safe_model_project(scope: Any, name: str) -> str:
    try:
        return str(scope.model_project(name))
    except NotFound:
        return ""


def _tag(tags: Any, key: str) -> str:
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return str(tag.get("value") or "")
    return ""


def _with_tags(tags: Any, values: dict[str, str]) -> list[dict[str, str]]:
    kept = [
        tag
        for tag in (tags if isinstance(tags, list) else [])
        if isinstance(tag, dict) and str(tag.get("key", "")) not in values
    ]
    return kept + [{"key": key, "value": value} for key, value in values.items()]


def _refuse_reserved_tags(call: Call) -> None:
    params = call.params
    keys = [_first(params.get("key"))] if "tag" in call.endpoint else []
    if call.endpoint not in ("experiments/create", "registered-models/create"):
        keys += [str(t.get("key", "")) for t in params.get("tags") or [] if isinstance(t, dict)]
    for key in keys:
        if key.startswith(RESERVED_PREFIX):
            raise PermissionDenied(f"Tags named {RESERVED_PREFIX}* are set by Lakeworks only.")


def _parse_params(scope: Scope, method: str, body: bytes) -> dict[str, Any]:
    if method == "GET" or not body:
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        return {k: v[0] if len(v) == 1 else v for k, v in query.items()}
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise InvalidInput("The request body is not valid JSON.") from exc
    if not isinstance(parsed, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return parsed


def _same_origin(scope: Scope, platform: Platform) -> bool:
    headers = {k.lower(): v for k, v in scope["headers"]}
    origin = (headers.get(b"origin") or headers.get(b"referer") or b"").decode("latin1")
    if not origin:
        return False
    host = headers.get(b"host", b"").decode("latin1")
    netloc = urlsplit(origin).netloc
    return netloc in (host, urlsplit(platform.settings.base_url).netloc)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(k, v) for k, v in (headers or []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: LakeworksError) -> None:
    status, body = _error_response(error)
    await _send(send, status, body, [(b"content-type", b"application/json")])


def mlflow_wsgi_app() -> Any:
    """MLflow's Flask app (tracking REST API and UI). Its import, on the first MLflow call
    of the process, is the server's largest: its objects are then frozen (``heap``)."""
    first = "mlflow.server" not in sys.modules
    from mlflow.server import app as flask_app

    _without_mlflow_auth()
    if first:
        heap.freeze()
    return flask_app


def mlflow_asgi_app() -> ASGIApp:
    """MLflow's Flask app (tracking REST API and UI) as an ASGI app."""
    from a2wsgi import WSGIMiddleware

    flask_app = mlflow_wsgi_app()

    # MLflow's React UI builds its request URLs from the page's location, so mounting it
    # under MOUNT_PATH needs no static prefix.
    wrapped: Any = WSGIMiddleware(flask_app, workers=8)
    return cast(ASGIApp, wrapped)


def _without_mlflow_auth() -> None:
    """Keep MLflow's own basic-auth app out of this process.

    MLflow 3's run search imports ``mlflow.server.auth`` whenever it can, and that module's
    mere import reads an auth config (always "on") and then filters experiments through
    MLflow's user database, which Lakeworks does not use: the gate already scoped the call.
    MLflow skips that filter when the import fails (``ImportError``, as when its ``auth``
    extra is missing), so the module is marked absent.
    """
    import sys

    if "mlflow.server.auth" not in sys.modules:
        sys.modules["mlflow.server.auth"] = None  # type: ignore[assignment]

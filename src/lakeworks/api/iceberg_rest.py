"""The Iceberg REST catalog of a project, for workloads: ``/api/iceberg/projects/{id}/v1/...``.

The subset of the Iceberg REST Catalog spec (``rest-catalog-open-api.yaml``) that pyiceberg's
``RestCatalog`` and Iceberg's Java ``RESTCatalog`` (Spark) use: config, namespaces (list,
create, load, exists, drop, properties) and tables (list, create (also staged), load, exists,
commit, drop, rename). Each request acts on the project in the URL, with the project roles of
the caller: ``Authorization: Bearer <API key>`` (in workloads, ``CDSW_APIV2_KEY``; a
workload's key reaches its own project only). Workloads never get database credentials: the
server runs ``SqlCatalog`` on their behalf (``services/data_catalog.py``).

Clients::

    RestCatalog("lakeworks", uri=f"{base}/api/iceberg/projects/{project_id}", token=key)

Errors are the spec's ``{"error": {"message", "type", "code"}}``. Not in the OpenAPI document
of API v2 (this is Iceberg's API, not CML's); the data room of docs/architecture.md lists it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from pyiceberg.catalog.rest import CreateTableRequest, TableResponse
from pyiceberg.table import CommitTableRequest, Table

from lakeworks import bounds
from lakeworks.entities.users import ApiKeyKind
from lakeworks.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    LakeworksError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    http_status,
)
from lakeworks.services import auth, data_catalog
from lakeworks.services.platform import Platform, Principal
from lakeworks.web.auth import get_platform

PREFIX = "/api/iceberg/projects/{project_id}/v1"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
NAMESPACE_SEPARATOR = "\x1f"  # the spec's default for nested namespaces in a path
MAX_BODY = 16 * 1024 * 1024

ENDPOINTS = [
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/tables/rename",
]


# Plumbing ----------------------------------------------------------------------------------------


def _error_type(exc: LakeworksError, what: str) -> str:
    if isinstance(exc, data_catalog.CommitConflict):
        return "CommitFailedException"
    if isinstance(exc, NotFound):
        return {"table": "NoSuchTableException", "namespace": "NoSuchNamespaceException"}.get(
            what, "NotFoundException"
        )
    if isinstance(exc, Conflict):
        return "AlreadyExistsException"
    if isinstance(exc, InvalidState):
        return "NamespaceNotEmptyException" if what == "namespace" else "BadRequestException"
    if isinstance(exc, Unauthenticated):
        return "NotAuthorizedException"
    if isinstance(exc, PermissionDenied):
        return "ForbiddenException"
    if isinstance(exc, InvalidInput | PayloadTooLarge):
        return "BadRequestException"
    return "ServiceFailureException"


def _error(exc: LakeworksError, what: str) -> Response:
    status = http_status(exc)
    body = {"error": {"message": exc.message, "type": _error_type(exc, what), "code": status}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _json(data: Any, status: int = 200) -> Response:
    text = data.model_dump_json() if hasattr(data, "model_dump_json") else json.dumps(data)
    return Response(text, status_code=status, media_type="application/json")


def _principal(request: Request, platform: Platform) -> Principal:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "Send 'Authorization: Bearer <API key>' (in a workload: CDSW_APIV2_KEY)."
        )
    return auth.authenticate_key(platform, value.strip(), ApiKeyKind.V2)


def _handle(
    request: Request, what: str, action: Callable[[Platform, Principal], Response]
) -> Response:
    platform = get_platform(request)
    try:
        return action(platform, _principal(request, platform))
    except LakeworksError as exc:
        return _error(exc, what)


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"The request body is over {MAX_BODY} bytes.")
    return body


def _parse(model: Any, body: bytes, optional: tuple[str, ...] = ()) -> Any:
    """``body`` as ``model``; ``optional`` names fields the client leaves out when unset
    (pyiceberg's request models declare them without a default)."""
    try:
        data = bounds.loads(body or b"{}")
    except ValueError as exc:
        raise InvalidInput("The request body is not JSON.") from exc
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    for name in optional:
        data.setdefault(name, None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        raise InvalidInput(f"Invalid request: {problems}") from exc


def _namespace(value: str) -> str:
    return data_catalog.parse_namespace(tuple(value.split(NAMESPACE_SEPARATOR)))


def _table_response(table: Table) -> TableResponse:
    return TableResponse(
        metadata_location=table.metadata_location, metadata=table.metadata, config={}
    )


# Config ------------------------------------------------------------------------------------------


@router.get("/config")
def get_config(project_id: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        data_catalog.catalog(platform, principal, project_id)  # access check only
        return _json({"defaults": {}, "overrides": {}, "endpoints": ENDPOINTS})

    return _handle(request, "config", act)


# Namespaces --------------------------------------------------------------------------------------


@router.get("/namespaces")
def list_namespaces(project_id: str, request: Request, parent: str | None = None) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        found = data_catalog.list_namespaces(platform, principal, project_id)
        if parent:  # one level only: no namespace has children
            _namespace(parent)
            return _json({"namespaces": []})
        return _json({"namespaces": [[ns.name] for ns in found]})

    return _handle(request, "namespace", act)


@router.post("/namespaces")
async def create_namespace(project_id: str, request: Request) -> Response:
    try:
        body = bounds.loads(await _body(request) or b"{}")
    except (ValueError, LakeworksError) as exc:
        message = exc if isinstance(exc, LakeworksError) else InvalidInput("The body is not JSON.")
        return _error(message, "namespace")

    def act(platform: Platform, principal: Principal) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("namespace"), list):
            raise InvalidInput("Give {'namespace': ['name'], 'properties': {...}}.")
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            raise InvalidInput("'properties' must be an object of strings.")
        made = data_catalog.create_namespace(
            platform, principal, project_id, tuple(body["namespace"]), properties
        )
        return _json({"namespace": [made.name], "properties": made.properties})

    return await _run(request, "namespace", act)


async def _run(
    request: Request, what: str, act: Callable[[Platform, Principal], Response]
) -> Response:
    """``_handle`` off the event loop (the catalog's work blocks on the database and files)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_handle, request, what, act)


@router.get("/namespaces/{namespace}")
def load_namespace(project_id: str, namespace: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        found = data_catalog.get_namespace(platform, principal, project_id, _namespace(namespace))
        return _json({"namespace": [found.name], "properties": found.properties})

    return _handle(request, "namespace", act)


@router.head("/namespaces/{namespace}")
def namespace_exists(project_id: str, namespace: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        data_catalog.get_namespace(platform, principal, project_id, _namespace(namespace))
        return Response(status_code=204)

    response = _handle(request, "namespace", act)
    return response if response.status_code == 204 else Response(status_code=response.status_code)


@router.delete("/namespaces/{namespace}")
def drop_namespace(project_id: str, namespace: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        data_catalog.drop_namespace(platform, principal, project_id, _namespace(namespace))
        return Response(status_code=204)

    return _handle(request, "namespace", act)


@router.post("/namespaces/{namespace}/properties")
async def update_namespace_properties(
    project_id: str, namespace: str, request: Request
) -> Response:
    try:
        body = bounds.loads(await _body(request) or b"{}")
    except (ValueError, LakeworksError):
        return _error(InvalidInput("The body is not JSON."), "namespace")

    def act(platform: Platform, principal: Principal) -> Response:
        if not isinstance(body, dict):
            raise InvalidInput("Give {'removals': [...], 'updates': {...}}.")
        removals = body.get("removals") or []
        updates = body.get("updates") or {}
        if not isinstance(removals, list) or not isinstance(updates, dict):
            raise InvalidInput("'removals' must be a list and 'updates' an object.")
        summary = data_catalog.update_namespace_properties(
            platform, principal, project_id, _namespace(namespace), set(map(str, removals)), updates
        )
        return _json(summary)

    return await _run(request, "namespace", act)


# Tables ------------------------------------------------------------------------------------------


@router.get("/namespaces/{namespace}/tables")
def list_tables(project_id: str, namespace: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        space = _namespace(namespace)
        data_catalog.get_namespace(platform, principal, project_id, space)  # 404 when missing
        found = data_catalog.list_tables(platform, principal, project_id, space)
        return _json({"identifiers": [{"namespace": [t.namespace], "name": t.name} for t in found]})

    return _handle(request, "namespace", act)


@router.post("/namespaces/{namespace}/tables")
async def create_table(project_id: str, namespace: str, request: Request) -> Response:
    try:
        body = await _body(request)
    except LakeworksError as exc:
        return _error(exc, "table")

    def act(platform: Platform, principal: Principal) -> Response:
        wanted = _parse(CreateTableRequest, body, ("location", "partition-spec", "write-order"))
        table = data_catalog.create_table(
            platform,
            principal,
            project_id,
            (_namespace(namespace), wanted.name),
            wanted.table_schema,
            location=wanted.location,
            partition_spec=wanted.partition_spec,
            sort_order=wanted.write_order,
            properties=wanted.properties,
            stage=wanted.stage_create,
        )
        return _json(_table_response(table))

    return await _run(request, "table", act)


@router.get("/namespaces/{namespace}/tables/{table}")
def load_table(project_id: str, namespace: str, table: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        loaded = data_catalog.load_table(
            platform, principal, project_id, (_namespace(namespace), table)
        )
        return _json(_table_response(loaded))

    return _handle(request, "table", act)


@router.head("/namespaces/{namespace}/tables/{table}")
def table_exists(project_id: str, namespace: str, table: str, request: Request) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        data_catalog.load_table(platform, principal, project_id, (_namespace(namespace), table))
        return Response(status_code=204)

    response = _handle(request, "table", act)
    return response if response.status_code == 204 else Response(status_code=response.status_code)


@router.post("/namespaces/{namespace}/tables/{table}")
async def commit_table(project_id: str, namespace: str, table: str, request: Request) -> Response:
    try:
        body = await _body(request)
    except LakeworksError as exc:
        return _error(exc, "table")

    def act(platform: Platform, principal: Principal) -> Response:
        wanted = _parse(CommitTableRequest, body)
        response = data_catalog.commit_table(
            platform,
            principal,
            project_id,
            (_namespace(namespace), table),
            tuple(wanted.requirements),
            tuple(wanted.updates),
        )
        return _json(response)

    return await _run(request, "table", act)


@router.delete("/namespaces/{namespace}/tables/{table}")
def drop_table(
    project_id: str,
    namespace: str,
    table: str,
    request: Request,
    purgeRequested: bool = False,
) -> Response:
    def act(platform: Platform, principal: Principal) -> Response:
        data_catalog.drop_table(
            platform, principal, project_id, (_namespace(namespace), table), purge=purgeRequested
        )
        return Response(status_code=204)

    return _handle(request, "table", act)


@router.post("/tables/rename")
async def rename_table(project_id: str, request: Request) -> Response:
    try:
        body = bounds.loads(await _body(request) or b"{}")
    except (ValueError, LakeworksError):
        return _error(InvalidInput("The body is not JSON."), "table")

    def act(platform: Platform, principal: Principal) -> Response:
        try:
            source, destination = body["source"], body["destination"]
            src = (*source["namespace"], source["name"])
            dst = (*destination["namespace"], destination["name"])
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                "Give {'source': {'namespace': [...], 'name': ...}, 'destination': {...}}."
            ) from exc
        data_catalog.rename_table(platform, principal, project_id, src, dst)
        return Response(status_code=204)

    return await _run(request, "table", act)

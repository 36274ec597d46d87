"""/api/v2/projects/{id}/data/...: a project's Iceberg catalog (namespaces, tables, schemas,
snapshots, history, a preview of rows) and its data connections; /api/v2/data/connections:
the site-wide connections (site admins). Lakeworks extensions in CML's style (snake_case,
lists under a plural key). Snapshot ids are strings: they are 64-bit and JavaScript's
numbers are not. A workload's own connection secrets come from ``.../credentials``."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Lenient, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.data.warehouse import warehouse_dir
from lakeworks.entities.data import DataConnection
from lakeworks.errors import InvalidInput
from lakeworks.services import data_catalog, data_connections
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.workloads import iceberg_rest_uri

router = APIRouter(tags=["data"], route_class=StrictJSONRoute)

MAX_PREVIEW_ROWS = 1000


class NamespaceCreate(Lenient):
    name: Annotated[str, Field(max_length=128)]
    properties: dict[str, str] | None = None


class ConnectionCreate(Lenient):
    name: Annotated[str, Field(max_length=64)]
    type: Annotated[
        str, Field(max_length=16, description="iceberg, duckdb, postgresql, mysql, spark")
    ]
    description: Annotated[str, Field(max_length=500)] = ""
    options: dict[str, Any] | None = None
    secret: Annotated[
        str, Field(max_length=4096, description="Password or token; never returned.")
    ] = ""


class ConnectionUpdate(Lenient):
    description: Annotated[str, Field(max_length=500)] | None = None
    options: dict[str, Any] | None = None
    secret: (
        Annotated[
            str,
            Field(max_length=4096, description="New secret; empty removes it; absent keeps it."),
        ]
        | None
    ) = None


# Shapes ------------------------------------------------------------------------------------------


def _ms(value: int | None) -> str:
    if value is None:
        return ""
    return rfc3339(dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC))


def snapshot_out(snapshot: Any) -> dict[str, Any]:
    summary = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
    return {
        "snapshot_id": str(snapshot.snapshot_id),
        "parent_id": ""
        if snapshot.parent_snapshot_id is None
        else str(snapshot.parent_snapshot_id),
        "sequence_number": snapshot.sequence_number,
        "committed_at": _ms(snapshot.timestamp_ms),
        "operation": snapshot.summary.operation.value if snapshot.summary else "",
        "summary": summary,
        "schema_id": snapshot.schema_id,
    }


def history_out(table: Any) -> list[dict[str, Any]]:
    current = table.current_snapshot()
    ancestors: set[int] = set()
    while current is not None:
        ancestors.add(current.snapshot_id)
        parent = current.parent_snapshot_id
        current = table.snapshot_by_id(parent) if parent is not None else None
    return [
        {
            "made_current_at": _ms(entry.timestamp_ms),
            "snapshot_id": str(entry.snapshot_id),
            "is_current_ancestor": entry.snapshot_id in ancestors,
        }
        for entry in table.history()
    ]


def schema_out(schema: Any) -> dict[str, Any]:
    return {
        "schema_id": schema.schema_id,
        "fields": [
            {
                "id": f.field_id,
                "name": f.name,
                "type": str(f.field_type),
                "required": f.required,
                "doc": f.doc or "",
            }
            for f in schema.fields
        ],
    }


def table_out(table: Any) -> dict[str, Any]:
    namespace, name = ".".join(table.name()[:-1]), table.name()[-1]
    metadata = table.metadata
    current = table.current_snapshot()
    return {
        "identifier": f"{namespace}.{name}",
        "namespace": namespace,
        "name": name,
        "location": table.location(),
        "table_uuid": str(metadata.table_uuid),
        "format_version": metadata.format_version,
        "last_updated_at": _ms(metadata.last_updated_ms),
        "current_snapshot_id": "" if current is None else str(current.snapshot_id),
        "schema": schema_out(table.schema()),
        "partition_spec": [
            {
                "source_id": f.source_id,
                "field_id": f.field_id,
                "name": f.name,
                "transform": str(f.transform),
            }
            for f in table.spec().fields
        ],
        "properties": dict(metadata.properties),
        "snapshots": [snapshot_out(s) for s in table.snapshots()],
        "history": history_out(table),
    }


def connection_out(connection: DataConnection) -> dict[str, Any]:
    return {
        "name": connection.name,
        "type": connection.type.value,
        "scope": "site" if connection.is_site else "project",
        "project_id": "" if connection.is_site else connection.scope,
        "description": connection.description,
        "options": connection.options,
        "has_secret": connection.has_secret,
        "builtin": connection.builtin,
        "created_at": rfc3339(connection.created_at),
        "updated_at": rfc3339(connection.updated_at),
    }


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


# The catalog -------------------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/data/namespaces",
    operation_id="list_data_namespaces",
    response_model=responses.ListNamespacesResponse,
)
def list_namespaces(
    project_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    found = data_catalog.list_namespaces(platform, principal, project_id)
    return {"namespaces": [{"name": ns.name, "properties": ns.properties} for ns in found]}


@router.post(
    "/projects/{project_id}/data/namespaces",
    operation_id="create_data_namespace",
    response_model=responses.Namespace,
)
def create_namespace(
    project_id: str, body: NamespaceCreate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    made = data_catalog.create_namespace(
        platform, principal, project_id, body.name, body.properties
    )
    return {"name": made.name, "properties": made.properties}


@router.delete(
    "/projects/{project_id}/data/namespaces/{namespace}",
    operation_id="delete_data_namespace",
    status_code=204,
)
def delete_namespace(
    project_id: str, namespace: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    data_catalog.drop_namespace(platform, principal, project_id, namespace)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/data/tables",
    operation_id="list_data_tables",
    response_model=responses.ListTablesResponse,
)
def list_tables(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    namespace: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    found = data_catalog.list_tables(platform, principal, project_id, namespace or None)
    return {
        "tables": [
            {"identifier": t.identifier, "namespace": t.namespace, "name": t.name} for t in found
        ]
    }


@router.get(
    "/projects/{project_id}/data/tables/{table}",
    operation_id="get_data_table",
    response_model=responses.Table,
)
def get_table(
    project_id: str, table: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A table (``namespace.name``): schema, partitioning, properties, snapshots, history."""
    return table_out(data_catalog.load_table(platform, principal, project_id, table))


@router.get(
    "/projects/{project_id}/data/tables/{table}/snapshots",
    operation_id="list_data_table_snapshots",
    response_model=responses.ListSnapshotsResponse,
)
def list_snapshots(
    project_id: str, table: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    loaded = data_catalog.load_table(platform, principal, project_id, table)
    current = loaded.current_snapshot()
    return {
        "snapshots": [snapshot_out(s) for s in loaded.snapshots()],
        "current_snapshot_id": "" if current is None else str(current.snapshot_id),
    }


@router.get(
    "/projects/{project_id}/data/tables/{table}/history",
    operation_id="list_data_table_history",
    response_model=responses.ListHistoryResponse,
)
def list_history(
    project_id: str, table: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    loaded = data_catalog.load_table(platform, principal, project_id, table)
    return {"history": history_out(loaded)}


@router.get(
    "/projects/{project_id}/data/tables/{table}/rows",
    operation_id="preview_data_table",
    response_model=responses.TableRows,
)
def preview_rows(
    project_id: str,
    table: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    snapshot_id: Annotated[
        str | None, Query(max_length=24, description="Time travel: a snapshot id.")
    ] = None,
    as_of: Annotated[
        str | None, Query(max_length=40, description="Time travel: RFC 3339 time or epoch ms.")
    ] = None,
    limit: Annotated[int, Query(ge=0, le=MAX_PREVIEW_ROWS)] = 100,
) -> dict[str, Any]:
    """The first rows of a table (at most 1000), now, at a snapshot or as of a time."""
    snapshot = _snapshot_id(snapshot_id)
    when = _as_of(as_of)
    rows = data_catalog.read_table(
        platform, principal, project_id, table, snapshot_id=snapshot, as_of=when, limit=limit
    )
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in rows.schema],
        "rows": [[_json_value(v) for v in row.values()] for row in rows.to_pylist()],
        "num_rows": rows.num_rows,
    }


def _snapshot_id(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise InvalidInput(f"snapshot_id must be a whole number, not {value!r}.") from None


def _as_of(value: str | None) -> dt.datetime | int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"as_of must be an RFC 3339 time or epoch milliseconds, not {value!r}."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@router.delete(
    "/projects/{project_id}/data/tables/{table}", operation_id="delete_data_table", status_code=204
)
def delete_table(
    project_id: str,
    table: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    purge: bool = False,
) -> Response:
    """Drop the table from the catalog; with ``purge=true`` its files are deleted too."""
    data_catalog.drop_table(platform, principal, project_id, table, purge=purge)
    return Response(status_code=204)


# Connections -------------------------------------------------------------------------------------


def _create(
    platform: Platform, principal: Principal, project_id: str | None, body: ConnectionCreate
) -> dict[str, Any]:
    """A project's connection, or with no project a site-wide one."""
    made = data_connections.create(
        platform,
        principal,
        project_id,
        name=body.name,
        type=body.type,
        options=body.options,
        secret=body.secret,
        description=body.description,
    )
    return connection_out(made)


def _update(
    platform: Platform,
    principal: Principal,
    project_id: str | None,
    name: str,
    body: ConnectionUpdate,
) -> dict[str, Any]:
    changed = data_connections.update(
        platform,
        principal,
        project_id,
        name,
        options=body.options,
        secret=body.secret,
        description=body.description,
    )
    return connection_out(changed)


@router.get(
    "/projects/{project_id}/data/connections",
    operation_id="list_data_connections",
    response_model=responses.ListDataConnectionsResponse,
)
def list_connections(
    project_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The connections the project's workloads may use: built-in, site-wide and the
    project's own (secrets are never shown)."""
    found = data_connections.list_for_project(platform, principal, project_id)
    return {"connections": [connection_out(c) for c in found]}


@router.post(
    "/projects/{project_id}/data/connections",
    operation_id="create_data_connection",
    response_model=responses.DataConnection,
)
def create_connection(
    project_id: str, body: ConnectionCreate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _create(platform, principal, project_id, body)


@router.get(
    "/projects/{project_id}/data/connections/{name}",
    operation_id="get_data_connection",
    response_model=responses.DataConnection,
)
def get_connection(
    project_id: str, name: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return connection_out(data_connections.get(platform, principal, project_id, name))


@router.patch(
    "/projects/{project_id}/data/connections/{name}",
    operation_id="update_data_connection",
    response_model=responses.DataConnection,
)
def update_connection(
    project_id: str,
    name: str,
    body: ConnectionUpdate,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return _update(platform, principal, project_id, name, body)


@router.delete(
    "/projects/{project_id}/data/connections/{name}",
    operation_id="delete_data_connection",
    status_code=204,
)
def delete_connection(
    project_id: str, name: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    data_connections.delete(platform, principal, project_id, name)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/data/connections/{name}/credentials",
    operation_id="get_data_connection_credentials",
    response_model=responses.DataConnectionCredentials,
)
def connection_credentials(
    project_id: str, name: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A connection with its secret, for the project's own workloads (their
    ``CDSW_APIV2_KEY``) to connect; refused to every other caller."""
    found = data_connections.credentials(platform, principal, project_id, name)
    body = connection_out(found.connection)
    if found.connection.builtin and found.connection.name == "iceberg":
        body["options"] = {
            "uri": iceberg_rest_uri(platform.settings, project_id),
            "warehouse": str(warehouse_dir(platform.settings, project_id)),
        }
    if found.connection.builtin and found.connection.name == "spark":
        body["options"] = (
            {"master": platform.settings.spark_master} if platform.settings.spark_master else {}
        )
    body["secret"] = found.secret
    body["warning"] = found.warning
    return body


@router.get(
    "/data/connections",
    operation_id="list_site_data_connections",
    response_model=responses.ListDataConnectionsResponse,
)
def list_site_connections(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """Site-wide connections (site administrators)."""
    return {
        "connections": [connection_out(c) for c in data_connections.list_site(platform, principal)]
    }


@router.post(
    "/data/connections",
    operation_id="create_site_data_connection",
    response_model=responses.DataConnection,
)
def create_site_connection(
    body: ConnectionCreate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _create(platform, principal, None, body)


@router.get(
    "/data/connections/{name}",
    operation_id="get_site_data_connection",
    response_model=responses.DataConnection,
)
def get_site_connection(
    name: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return connection_out(data_connections.get_site(platform, principal, name))


@router.patch(
    "/data/connections/{name}",
    operation_id="update_site_data_connection",
    response_model=responses.DataConnection,
)
def update_site_connection(
    name: str, body: ConnectionUpdate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _update(platform, principal, None, name, body)


@router.delete(
    "/data/connections/{name}", operation_id="delete_site_data_connection", status_code=204
)
def delete_site_connection(name: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    data_connections.delete(platform, principal, None, name)
    return Response(status_code=204)

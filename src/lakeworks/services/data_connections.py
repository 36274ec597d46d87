"""Data connections: what ``cml.data_v1.get_connection(name)`` finds in a workload.

- **Built-in**, in every project: ``iceberg`` (the project's tables in the platform's Iceberg
  catalog, reached through its REST catalog) and ``spark`` (Spark with the project's
  configuration).
- **Site-wide**, managed by site admins; **per project**, managed by the project's admins. A
  project's connection hides a site one of the same name. Names of built-ins are reserved.
- Types: ``duckdb`` (a database file, or in memory), ``postgresql``, ``mysql`` (MySQL and
  MariaDB), ``spark`` (extra Spark settings), ``iceberg`` (another Iceberg REST catalog).
- The **secret** (a password, a token) is sealed at rest (``services.sealing``) and never
  returned by a list or a get. Only a workload of the project, with its own key, fetches it
  (``credentials``) to connect.

An unknown name is an error that lists the names there are, unless the site turns on
``data_connection_aliasing`` (CML compat §3.3: projects hard-code connection names of other
workspaces): then it resolves to the built-in ``spark`` connection, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lakeworks.entities.data import SITE_SCOPE, ConnectionType, DataConnection
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied
from lakeworks.services import sealing
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

SECRET_PURPOSE = "data-connection"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_SECRET = 4096
MAX_OPTION_TEXT = 2000

BUILTINS: dict[str, DataConnection] = {
    "iceberg": DataConnection(
        id=0,
        name="iceberg",
        type=ConnectionType.ICEBERG,
        scope=SITE_SCOPE,
        description="This project's Iceberg tables (the platform's catalog).",
        builtin=True,
    ),
    "spark": DataConnection(
        id=0,
        name="spark",
        type=ConnectionType.SPARK,
        scope=SITE_SCOPE,
        description="Spark with the project's configuration and its Iceberg tables.",
        builtin=True,
    ),
}

# Per type: option -> (Python type, required). Anything else is refused, so a typo is told.
OPTIONS: dict[ConnectionType, dict[str, tuple[type, bool]]] = {
    ConnectionType.DUCKDB: {"database": (str, False), "read_only": (bool, False)},
    ConnectionType.POSTGRESQL: {
        "host": (str, True),
        "port": (int, False),
        "database": (str, False),
        "user": (str, False),
        "sslmode": (str, False),
    },
    ConnectionType.MYSQL: {
        "host": (str, True),
        "port": (int, False),
        "database": (str, False),
        "user": (str, False),
        "charset": (str, False),
    },
    ConnectionType.SPARK: {"master": (str, False), "conf": (dict, False)},
    ConnectionType.ICEBERG: {"uri": (str, True), "warehouse": (str, False), "prefix": (str, False)},
}
# What the secret is, per type (None: the type takes no secret).
SECRET_NAMES: dict[ConnectionType, str | None] = {
    ConnectionType.DUCKDB: None,
    ConnectionType.POSTGRESQL: "password",
    ConnectionType.MYSQL: "password",
    ConnectionType.SPARK: None,
    ConnectionType.ICEBERG: "token",
}


@dataclass(frozen=True)
class Credentials:
    """A connection as a workload receives it: with its secret (empty when it has none)."""

    connection: DataConnection
    secret: str
    warning: str = ""


# Validation ------------------------------------------------------------------------------------


def parse_type(value: str) -> ConnectionType:
    try:
        return ConnectionType(str(value).strip().lower())
    except ValueError:
        kinds = ", ".join(t.value for t in ConnectionType)
        raise InvalidInput(f"{value!r} is not a connection type; use one of: {kinds}.") from None


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a connection name: start with a letter; letters, digits, "
            "'_', '.' and '-'; at most 64 characters."
        )
    if name.lower() in BUILTINS:
        raise InvalidInput(f"{name!r} is the name of a built-in connection; choose another.")
    return name


def check_options(kind: ConnectionType, options: dict[str, Any] | None) -> dict[str, Any]:
    allowed = OPTIONS[kind]
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{kind.value} connections have no option {', '.join(map(repr, unknown))}; "
            f"the options are: {', '.join(sorted(allowed))}."
        )
    clean: dict[str, Any] = {}
    for key, (wanted, required) in allowed.items():
        value = options.get(key)
        if value in (None, ""):
            if required:
                raise InvalidInput(f"{kind.value} connections need the option {key!r}.")
            continue
        clean[key] = _coerce(key, value, wanted)
    if kind is ConnectionType.SPARK and "conf" in clean:
        clean["conf"] = {str(k): str(v) for k, v in clean["conf"].items()}
        bad = [k for k in clean["conf"] if not k.startswith("spark.")]
        if bad:
            raise InvalidInput(f"Spark settings start with 'spark.': {', '.join(bad)}.")
    return clean


def _coerce(key: str, value: Any, wanted: type) -> Any:
    if wanted is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise InvalidInput(f"Option {key!r} must be true or false.")
    if wanted is int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"Option {key!r} must be a whole number.") from None
        if not 1 <= number <= 65535:
            raise InvalidInput(f"Option {key!r} must be a port number (1-65535).")
        return number
    if wanted is dict:
        if not isinstance(value, dict):
            raise InvalidInput(f"Option {key!r} must be an object of settings.")
        return value
    text = str(value)
    if len(text) > MAX_OPTION_TEXT or "\x00" in text:
        raise InvalidInput(f"Option {key!r} is too long or holds a NUL character.")
    return text


def _check_secret(kind: ConnectionType, secret: str | None) -> str | None:
    if secret is None:
        return None
    if secret and SECRET_NAMES[kind] is None:
        raise InvalidInput(f"{kind.value} connections take no secret.")
    if len(secret) > MAX_SECRET or "\x00" in secret:
        raise InvalidInput(f"The secret is over {MAX_SECRET} characters or holds a NUL.")
    return secret


# Access ----------------------------------------------------------------------------------------


def _scope_of(project_id: str | None) -> str:
    return project_id or SITE_SCOPE


def _require_manager(
    platform: Platform, principal: Principal, project_id: str | None, uow: Any
) -> None:
    if project_id is None:
        if not principal.is_admin:
            raise PermissionDenied("Only site administrators manage site-wide data connections.")
        return
    require(uow, principal, project_id, Action.CHANGE_SETTINGS)


def _visible(uow: Any, project_id: str) -> dict[str, DataConnection]:
    """Name -> connection a project's workloads see: built-ins, site, then project ones."""
    found: dict[str, DataConnection] = dict(BUILTINS)
    for connection in uow.data_connections.in_scopes(SITE_SCOPE, project_id):
        if connection.name.lower() in BUILTINS:
            continue
        if connection.scope == SITE_SCOPE and connection.name in found:
            continue
        found[connection.name] = connection  # a project's hides the site's of that name
    return found


def _not_found(name: str, names: list[str]) -> NotFound:
    return NotFound(
        f"There is no data connection named {name!r} in this project. "
        f"Connections: {', '.join(sorted(names))}."
    )


# Queries ---------------------------------------------------------------------------------------


def list_for_project(
    platform: Platform, principal: Principal, project_id: str
) -> list[DataConnection]:
    """Every connection the project's workloads may use (no secrets)."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        found = _visible(uow, project_id)
    return sorted(found.values(), key=lambda c: (not c.builtin, c.name.lower()))


def list_site(platform: Platform, principal: Principal) -> list[DataConnection]:
    if not principal.is_admin:
        raise PermissionDenied("Only site administrators manage site-wide data connections.")
    with platform.read() as uow:
        return uow.data_connections.in_scopes(SITE_SCOPE)


def list_own(platform: Platform, principal: Principal, project_id: str) -> list[DataConnection]:
    """The project's own connections (not the site's), for its settings page."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.data_connections.in_scopes(project_id)


def get(platform: Platform, principal: Principal, project_id: str, name: str) -> DataConnection:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        found = _visible(uow, project_id)
    if name in found:
        return found[name]
    raise _not_found(name, list(found))


def get_site(platform: Platform, principal: Principal, name: str) -> DataConnection:
    with platform.read() as uow:
        _require_manager(platform, principal, None, uow)
        connection = uow.data_connections.get(SITE_SCOPE, name)
    if connection is None:
        raise NotFound(f"There is no site-wide data connection named {name!r}.")
    return connection


def credentials(
    platform: Platform, principal: Principal, project_id: str, name: str
) -> Credentials:
    """A connection with its secret, for a workload of the project (its own key) to connect.
    Nobody else gets a secret back, site admins and project owners included."""
    if principal.project_scope != project_id:
        raise PermissionDenied(
            "Connection secrets are given to the project's own workloads only (their "
            "CDSW_APIV2_KEY)."
        )
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        found = _visible(uow, project_id)
        connection = found.get(name)
        sealed = ""
        if connection is not None and not connection.builtin:
            sealed = uow.data_connections.sealed_secret(connection.scope, connection.name)
    if connection is None:
        if platform.settings.data_connection_aliasing:
            warning = (
                f"There is no data connection named {name!r}; using the built-in 'spark' "
                "connection (LAKEWORKS_DATA_CONNECTION_ALIASING)."
            )
            return Credentials(BUILTINS["spark"], "", warning)
        raise _not_found(name, list(found))
    secret = sealing.unseal(platform.settings, SECRET_PURPOSE, sealed) if sealed else ""
    return Credentials(connection, secret)


# Commands --------------------------------------------------------------------------------------


def create(
    platform: Platform,
    principal: Principal,
    project_id: str | None,
    *,
    name: str,
    type: str,
    options: dict[str, Any] | None = None,
    secret: str = "",
    description: str = "",
) -> DataConnection:
    """Define a connection for a project (its admins) or, with no project, site-wide
    (site admins)."""
    scope = _scope_of(project_id)
    with platform.command(
        principal, "data.connection.create", target=f"{scope}/{name}", project_id=project_id
    ) as cmd:
        _require_manager(platform, principal, project_id, cmd.uow)
        checked = check_name(name)
        kind = parse_type(type)
        clean = check_options(kind, options)
        sealed = _seal(platform, _check_secret(kind, secret) or "")
        if cmd.uow.data_connections.get(scope, checked) is not None:
            raise InvalidInput(f"A data connection named {checked!r} already exists here.")
        connection = cmd.uow.data_connections.add(
            scope=scope,
            project_id=project_id,
            name=checked,
            type=kind,
            description=(description or "").strip()[:500],
            options=clean,
            secret_sealed=sealed,
        )
        cmd.detail = {"type": kind.value, "options": sorted(clean), "secret": bool(sealed)}
        return connection


def update(
    platform: Platform,
    principal: Principal,
    project_id: str | None,
    name: str,
    *,
    options: dict[str, Any] | None = None,
    secret: str | None = None,
    description: str | None = None,
) -> DataConnection:
    """Change options (replaced whole), the secret (None: kept; "": removed) or the
    description of a connection."""
    scope = _scope_of(project_id)
    with platform.command(
        principal, "data.connection.update", target=f"{scope}/{name}", project_id=project_id
    ) as cmd:
        _require_manager(platform, principal, project_id, cmd.uow)
        current = cmd.uow.data_connections.get(scope, name)
        if current is None:
            raise NotFound(f"There is no data connection named {name!r} here.")
        values: dict[str, Any] = {}
        if options is not None:
            values["options"] = check_options(current.type, options)
        checked_secret = _check_secret(current.type, secret)
        if checked_secret is not None:
            values["secret_sealed"] = _seal(platform, checked_secret)
        if description is not None:
            values["description"] = description.strip()[:500]
        updated = cmd.uow.data_connections.update(scope, name, **values)
        assert updated is not None
        cmd.detail = {"changed": sorted(k.replace("_sealed", "") for k in values)}
        return updated


def delete(platform: Platform, principal: Principal, project_id: str | None, name: str) -> None:
    scope = _scope_of(project_id)
    with platform.command(
        principal, "data.connection.delete", target=f"{scope}/{name}", project_id=project_id
    ) as cmd:
        _require_manager(platform, principal, project_id, cmd.uow)
        if not cmd.uow.data_connections.delete(scope, name):
            raise NotFound(f"There is no data connection named {name!r} here.")


def _seal(platform: Platform, secret: str) -> str:
    return sealing.seal(platform.settings, SECRET_PURPOSE, secret) if secret else ""

"""Data connections (``cml.data_v1.get_connection``) and the kinds they come in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SITE_SCOPE = "site"


class ConnectionType(enum.StrEnum):
    ICEBERG = "iceberg"  # an Iceberg REST catalog (the built-in one is the project's own)
    DUCKDB = "duckdb"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"  # MySQL and MariaDB
    SPARK = "spark"


@dataclass(frozen=True)
class DataConnection:
    """A connection defined by a site admin (``scope == "site"``) or for one project
    (``scope`` is the project's id). The secret (a password or token) is sealed in the store
    and never part of this object; ``has_secret`` says whether one is set."""

    id: int
    name: str
    type: ConnectionType
    scope: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    has_secret: bool = False
    builtin: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_site(self) -> bool:
        return self.scope == SITE_SCOPE

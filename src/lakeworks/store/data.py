"""Data: the Iceberg catalog's tables (Iceberg's JDBC catalog schema) and data connections.

``iceberg_tables`` and ``iceberg_namespace_properties`` are the tables of Iceberg's JDBC
catalog (``JdbcCatalog``, schema version V1) exactly, so pyiceberg's ``SqlCatalog`` and a
Spark with the Iceberg runtime read and write the same rows. They are declared here so the
migrations create them and the store's metadata knows them; only ``data/iceberg.py`` (through
``SqlCatalog``) writes them, apart from ``IcebergRepo.delete_catalog`` when a project goes.
``catalog_name`` is the project's id: one catalog per project.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from lakeworks.entities.data import ConnectionType, DataConnection
from lakeworks.store.tables import Base, UTCDateTime, utcnow


class IcebergTableRow(Base):
    __tablename__ = "iceberg_tables"

    catalog_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    table_namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    metadata_location: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    previous_metadata_location: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    iceberg_type: Mapped[str | None] = mapped_column(String(5), nullable=True)


class IcebergNamespacePropertyRow(Base):
    __tablename__ = "iceberg_namespace_properties"

    catalog_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    property_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    property_value: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class DataConnectionRow(Base):
    __tablename__ = "data_connections"
    __table_args__ = (
        UniqueConstraint("scope", "name", name="uq_data_connections_scope_name"),
        Index("ix_data_connections_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "site" or the project's id; project_id repeats the latter so the rows go with it.
    scope: Mapped[str] = mapped_column(String(19))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Fernet token (services.sealing, purpose "data-connection"); "" when there is none.
    secret_sealed: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def to_connection(row: DataConnectionRow) -> DataConnection:
    return DataConnection(
        id=row.id,
        name=row.name,
        type=ConnectionType(row.type),
        scope=row.scope,
        options=dict(row.options or {}),
        description=row.description,
        has_secret=bool(row.secret_sealed),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class DataConnectionRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def in_scopes(self, *scopes: str) -> list[DataConnection]:
        rows = self.session.scalars(
            select(DataConnectionRow)
            .where(DataConnectionRow.scope.in_(scopes))
            .order_by(DataConnectionRow.name, DataConnectionRow.id)
        )
        return [to_connection(r) for r in rows]

    def get(self, scope: str, name: str) -> DataConnection | None:
        row = self._row(scope, name)
        return to_connection(row) if row else None

    def sealed_secret(self, scope: str, name: str) -> str:
        row = self._row(scope, name)
        return row.secret_sealed if row else ""

    def _row(self, scope: str, name: str) -> DataConnectionRow | None:
        return self.session.scalar(
            select(DataConnectionRow).where(
                DataConnectionRow.scope == scope, DataConnectionRow.name == name
            )
        )

    def add(
        self,
        *,
        scope: str,
        project_id: str | None,
        name: str,
        type: ConnectionType,
        description: str,
        options: dict[str, Any],
        secret_sealed: str,
    ) -> DataConnection:
        now = utcnow()
        row = DataConnectionRow(
            scope=scope,
            project_id=project_id,
            name=name,
            type=type.value,
            description=description,
            options=options,
            secret_sealed=secret_sealed,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return to_connection(row)

    def update(self, scope: str, name: str, **values: Any) -> DataConnection | None:
        row = self._row(scope, name)
        if row is None:
            return None
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
        self.session.flush()
        return to_connection(row)

    def delete(self, scope: str, name: str) -> bool:
        result = self.session.execute(
            delete(DataConnectionRow).where(
                DataConnectionRow.scope == scope, DataConnectionRow.name == name
            )
        )
        return bool(getattr(result, "rowcount", 0))


class IcebergRepo:
    """What the platform itself does to the catalog's rows: forget a deleted project's."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tables_of(self, catalog_names: list[str]) -> dict[str, list[str]]:
        """Each catalog's tables as ``namespace.table``, sorted, in one statement (views that
        other engines keep in the same rows are left out, as ``SqlCatalog.list_tables``
        does)."""
        found: dict[str, list[str]] = {name: [] for name in catalog_names}
        if not catalog_names:
            return found
        rows = self.session.execute(
            select(
                IcebergTableRow.catalog_name,
                IcebergTableRow.table_namespace,
                IcebergTableRow.table_name,
            )
            .where(IcebergTableRow.catalog_name.in_(catalog_names))
            .where(
                (IcebergTableRow.iceberg_type == "TABLE") | IcebergTableRow.iceberg_type.is_(None)
            )
            .order_by(IcebergTableRow.table_namespace, IcebergTableRow.table_name)
        )
        for catalog, namespace, table in rows:
            found[catalog].append(f"{namespace}.{table}")
        return found

    def delete_catalog(self, catalog_name: str) -> None:
        self.session.execute(
            delete(IcebergTableRow).where(IcebergTableRow.catalog_name == catalog_name)
        )
        self.session.execute(
            delete(IcebergNamespacePropertyRow).where(
                IcebergNamespacePropertyRow.catalog_name == catalog_name
            )
        )

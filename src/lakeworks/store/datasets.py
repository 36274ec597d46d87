"""The Data page's rows: query history, datasets, dashboards and their visuals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lakeworks.entities.datasets import (
    Aggregate,
    Dashboard,
    Dataset,
    DatasetField,
    FieldRole,
    FieldType,
    Measure,
    QueryRecord,
    QueryStatus,
    Visual,
    VisualKind,
)
from lakeworks.store.tables import Base, UTCDateTime, utcnow


class DataQueryRow(Base):
    __tablename__ = "data_queries"
    __table_args__ = (Index("ix_data_queries_owner", "project_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sql: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetRow(Base):
    __tablename__ = "data_datasets"
    __table_args__ = (Index("ix_data_datasets_project_name", "project_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    sql: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DashboardRow(Base):
    __tablename__ = "data_dashboards"
    __table_args__ = (Index("ix_data_dashboards_project", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    subtitle: Mapped[str] = mapped_column(Text, default="")
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisualRow(Base):
    __tablename__ = "data_visuals"

    dashboard_id: Mapped[int] = mapped_column(
        ForeignKey("data_dashboards.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # A dataset in use on a dashboard cannot be deleted (the service says which).
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("data_datasets.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(32))
    dimensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    measures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


def to_record(row: DataQueryRow) -> QueryRecord:
    return QueryRecord(
        id=row.id,
        project_id=row.project_id,
        user_id=row.user_id,
        sql=row.sql,
        status=QueryStatus(row.status),
        rows=row.rows,
        elapsed_ms=row.elapsed_ms,
        error=row.error,
        created_at=row.created_at,
    )


def to_dataset(row: DatasetRow) -> Dataset:
    return Dataset(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        sql=row.sql,
        fields=[
            DatasetField(
                name=f["name"],
                source=f["source"],
                type=FieldType(f["type"]),
                role=FieldRole(f["role"]),
                source_type=f.get("source_type", ""),
            )
            for f in row.fields or []
        ],
        creator_id=row.creator_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _fields_json(fields: list[DatasetField]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "source": f.source,
            "type": f.type.value,
            "role": f.role.value,
            "source_type": f.source_type,
        }
        for f in fields
    ]


def to_visual(row: VisualRow) -> Visual:
    return Visual(
        id=row.position,
        dashboard_id=row.dashboard_id,
        position=row.position,
        dataset_id=row.dataset_id,
        title=row.title,
        kind=VisualKind(row.kind),
        dimensions=list(row.dimensions or []),
        measures=[Measure(m["field"], Aggregate(m["aggregate"])) for m in row.measures or []],
    )


class DataRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Query history ------------------------------------------------------------------
    def add_query(
        self,
        *,
        project_id: str,
        user_id: int,
        sql: str,
        status: QueryStatus,
        rows: int,
        elapsed_ms: int,
        error: str,
        keep: int,
    ) -> QueryRecord:
        row = DataQueryRow(
            project_id=project_id,
            user_id=user_id,
            sql=sql,
            status=status.value,
            rows=rows,
            elapsed_ms=elapsed_ms,
            error=error,
            created_at=utcnow(),
        )
        self.session.add(row)
        self.session.flush()
        # Each person keeps their newest ``keep`` queries per project.
        old = self.session.scalars(
            select(DataQueryRow.id)
            .where(DataQueryRow.project_id == project_id, DataQueryRow.user_id == user_id)
            .order_by(DataQueryRow.id.desc())
            .offset(keep)
        ).all()
        if old:
            self.session.execute(delete(DataQueryRow).where(DataQueryRow.id.in_(old)))
        return to_record(row)

    def queries(self, project_id: str, user_id: int, limit: int) -> list[QueryRecord]:
        rows = self.session.scalars(
            select(DataQueryRow)
            .where(DataQueryRow.project_id == project_id, DataQueryRow.user_id == user_id)
            .order_by(DataQueryRow.id.desc())
            .limit(limit)
        )
        return [to_record(r) for r in rows]

    # Datasets -------------------------------------------------------------------------
    def add_dataset(
        self, *, project_id: str, name: str, sql: str, fields: list[DatasetField], creator_id: int
    ) -> Dataset:
        now = utcnow()
        row = DatasetRow(
            project_id=project_id,
            name=name,
            sql=sql,
            fields=_fields_json(fields),
            creator_id=creator_id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return to_dataset(row)

    def dataset(self, project_id: str, dataset_id: int) -> Dataset | None:
        row = self.session.get(DatasetRow, dataset_id)
        return to_dataset(row) if row is not None and row.project_id == project_id else None

    def dataset_named(self, project_id: str, name: str) -> Dataset | None:
        row = self.session.scalars(
            select(DatasetRow).where(DatasetRow.project_id == project_id, DatasetRow.name == name)
        ).first()
        return to_dataset(row) if row is not None else None

    def datasets(self, project_id: str) -> list[Dataset]:
        rows = self.session.scalars(
            select(DatasetRow).where(DatasetRow.project_id == project_id).order_by(DatasetRow.name)
        )
        return [to_dataset(r) for r in rows]

    def datasets_of(self, project_ids: list[str]) -> dict[str, list[Dataset]]:
        """Each project's datasets by name, in one statement."""
        found: dict[str, list[Dataset]] = {pid: [] for pid in project_ids}
        if project_ids:
            rows = self.session.scalars(
                select(DatasetRow)
                .where(DatasetRow.project_id.in_(project_ids))
                .order_by(DatasetRow.name)
            )
            for row in rows:
                found[row.project_id].append(to_dataset(row))
        return found

    def update_dataset(
        self, dataset_id: int, *, name: str, sql: str, fields: list[DatasetField]
    ) -> Dataset:
        row = self.session.get(DatasetRow, dataset_id)
        assert row is not None
        row.name = name
        row.sql = sql
        row.fields = _fields_json(fields)
        row.updated_at = utcnow()
        self.session.flush()
        return to_dataset(row)

    def delete_dataset(self, dataset_id: int) -> None:
        self.session.execute(delete(DatasetRow).where(DatasetRow.id == dataset_id))

    def dashboards_using(self, dataset_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(DashboardRow.title)
                .join(VisualRow, VisualRow.dashboard_id == DashboardRow.id)
                .where(VisualRow.dataset_id == dataset_id)
                .distinct()
                .order_by(DashboardRow.title)
            )
        )

    # Dashboards -----------------------------------------------------------------------
    def add_dashboard(
        self, *, project_id: str, title: str, subtitle: str, creator_id: int
    ) -> Dashboard:
        now = utcnow()
        row = DashboardRow(
            project_id=project_id,
            title=title,
            subtitle=subtitle,
            creator_id=creator_id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return self._dashboard(row)

    def dashboard(self, project_id: str, dashboard_id: int) -> Dashboard | None:
        row = self.session.get(DashboardRow, dashboard_id)
        return self._dashboard(row) if row is not None and row.project_id == project_id else None

    def dashboards(self, project_id: str) -> list[Dashboard]:
        rows = self.session.scalars(
            select(DashboardRow)
            .where(DashboardRow.project_id == project_id)
            .order_by(DashboardRow.title, DashboardRow.id)
        )
        return [self._dashboard(r) for r in rows]

    def update_dashboard(
        self,
        dashboard_id: int,
        *,
        title: str,
        subtitle: str,
        visuals: list[dict[str, Any]] | None,
    ) -> Dashboard:
        """Change the title and subtitle; ``visuals`` (when given) replaces every visual."""
        row = self.session.get(DashboardRow, dashboard_id)
        assert row is not None
        row.title = title
        row.subtitle = subtitle
        row.updated_at = utcnow()
        if visuals is not None:
            self.session.execute(delete(VisualRow).where(VisualRow.dashboard_id == dashboard_id))
            self.session.flush()
            for position, visual in enumerate(visuals, start=1):
                self.session.add(
                    VisualRow(
                        dashboard_id=dashboard_id,
                        position=position,
                        dataset_id=visual["dataset_id"],
                        title=visual["title"],
                        kind=visual["kind"],
                        dimensions=list(visual["dimensions"]),
                        measures=list(visual["measures"]),
                    )
                )
        self.session.flush()
        return self._dashboard(row)

    def delete_dashboard(self, dashboard_id: int) -> None:
        self.session.execute(delete(VisualRow).where(VisualRow.dashboard_id == dashboard_id))
        self.session.execute(delete(DashboardRow).where(DashboardRow.id == dashboard_id))

    def dashboards_of(self, project_ids: list[str]) -> dict[str, list[Dashboard]]:
        """Each project's dashboards by title, with their visuals, in two statements."""
        found: dict[str, list[Dashboard]] = {pid: [] for pid in project_ids}
        if not project_ids:
            return found
        rows = list(
            self.session.scalars(
                select(DashboardRow)
                .where(DashboardRow.project_id.in_(project_ids))
                .order_by(DashboardRow.title, DashboardRow.id)
            )
        )
        visuals: dict[int, list[VisualRow]] = {row.id: [] for row in rows}
        if rows:
            for visual in self.session.scalars(
                select(VisualRow)
                .where(VisualRow.dashboard_id.in_(list(visuals)))
                .order_by(VisualRow.position)
            ):
                visuals[visual.dashboard_id].append(visual)
        for row in rows:
            found[row.project_id].append(self._dashboard(row, visuals[row.id]))
        return found

    def _dashboard(self, row: DashboardRow, visuals: list[VisualRow] | None = None) -> Dashboard:
        if visuals is None:
            visuals = list(
                self.session.scalars(
                    select(VisualRow)
                    .where(VisualRow.dashboard_id == row.id)
                    .order_by(VisualRow.position)
                )
            )
        return Dashboard(
            id=row.id,
            project_id=row.project_id,
            title=row.title,
            subtitle=row.subtitle,
            creator_id=row.creator_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            visuals=[to_visual(v) for v in visuals],
        )

"""Workload records, resource profiles and user quotas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, union_all, update
from sqlalchemy.orm import Session

from lakeworks.entities.jobs import ResourceProfile
from lakeworks.entities.status import check_move
from lakeworks.entities.workloads import (
    FINAL_STATUSES,
    TRANSITIONS,
    Handle,
    Resources,
    Workload,
    WorkloadKind,
    WorkloadStatus,
)
from lakeworks.store.bulk import as_row, move_each
from lakeworks.store.tables import (
    ApplicationRow,
    JobRunRow,
    ModelBuildRow,
    ModelReplicaRow,
    ResourceProfileRow,
    SessionRow,
    UserQuotaRow,
    WorkloadRow,
    utcnow,
)

_WORKLOADS = cast(Table, WorkloadRow.__table__)

# Every record that owns a workload, by the column naming it.
_OWNER_COLUMNS = (
    JobRunRow.workload_id,
    SessionRow.workload_id,
    ApplicationRow.workload_id,
    ModelBuildRow.workload_id,
    ModelReplicaRow.workload_id,
)


def to_workload(row: WorkloadRow) -> Workload:
    return Workload(
        id=row.id,
        kind=WorkloadKind(row.kind),
        project_id=row.project_id,
        user_id=row.user_id,
        status=WorkloadStatus(row.status),
        executor=row.executor,
        handle=cast(Handle, dict(row.handle or {})),
        address=row.address,
        log_path=row.log_path,
        resources=Resources(cpu=row.cpu, memory_mb=row.memory_mb, gpu=row.gpu),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        reason=row.reason,
        parent_id=row.parent_id,
        name=row.name or "",
    )


class WorkloadRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        *,
        workload_id: str,
        kind: WorkloadKind,
        project_id: str,
        user_id: int,
        executor: str,
        log_path: str,
        resources: Resources,
        status: WorkloadStatus = WorkloadStatus.PENDING,
        api_key_ids: list[int] | None = None,
        parent_id: str | None = None,
        name: str = "",
        **values: Any,
    ) -> Workload:
        """A new workload record. Every workload begins pending; ``status`` records it as
        already moved on from there (checked against the transition table), for a launcher
        that records and moves it in one transaction."""
        fields = {
            "workload_id": workload_id,
            "kind": kind,
            "project_id": project_id,
            "user_id": user_id,
            "executor": executor,
            "log_path": log_path,
            "resources": resources,
            "status": status,
            "api_key_ids": api_key_ids,
            "parent_id": parent_id,
            "name": name,
        }
        return self.add_many([fields | values])[0]

    def add_many(self, workloads: Sequence[Mapping[str, Any]]) -> list[Workload]:
        """New workload records (each ``add``'s arguments), in one INSERT (a dispatcher's
        batch records its workloads together)."""
        rows = []
        for fields in workloads:
            extra = dict(fields)
            status = extra.pop("status", WorkloadStatus.PENDING)
            if status is not WorkloadStatus.PENDING:
                check_move(TRANSITIONS, WorkloadStatus.PENDING, status)
            resources: Resources = extra.pop("resources")
            row = {
                "id": extra.pop("workload_id"),
                "kind": extra.pop("kind").value,
                "status": status.value,
                "cpu": resources.cpu,
                "memory_mb": resources.memory_mb,
                "gpu": resources.gpu,
                "api_key_ids": list(extra.pop("api_key_ids", None) or []),
                "parent_id": extra.pop("parent_id", None),
                "name": extra.pop("name", ""),
                "handle": {},
                "address": "",
                "created_at": utcnow(),
                "started_at": None,
                "finished_at": None,
                "exit_code": None,
                "reason": "",
            }
            rows.append(row | extra)  # project_id, user_id, executor, log_path and the rest
        if not rows:
            return []
        self.session.execute(insert(_WORKLOADS), rows)
        return [to_workload(as_row(WorkloadRow, row)) for row in rows]

    def get(self, workload_id: str) -> Workload | None:
        row = self.session.get(WorkloadRow, workload_id)
        return to_workload(row) if row else None

    def get_many(self, workload_ids: Sequence[str]) -> dict[str, Workload]:
        """``get`` for many workloads in one query: id → workload, for those that exist."""
        if not workload_ids:
            return {}
        rows = self.session.scalars(select(WorkloadRow).where(WorkloadRow.id.in_(workload_ids)))
        return {row.id: to_workload(row) for row in rows}

    def move(
        self, workload_id: str, expected: WorkloadStatus, target: WorkloadStatus, **values: Any
    ) -> bool:
        """Atomically move ``expected`` → ``target``; False if someone else moved it first.
        A move the transition table does not allow raises ``IllegalTransition``."""
        check_move(TRANSITIONS, expected, target)
        result = self.session.execute(
            update(WorkloadRow)
            .where(WorkloadRow.id == workload_id, WorkloadRow.status == expected.value)
            .values(status=target.value, **values)
        )
        return bool(result.rowcount)

    def move_many(
        self,
        expected: WorkloadStatus,
        target: WorkloadStatus,
        rows: Sequence[Mapping[str, Any]],
    ) -> set[str]:
        """``move`` for many workloads, each with its own values (``id`` and the same keys in
        every row), in one statement; the ids moved. Only for moves no other writer makes
        (``store.bulk.move_each``): a launcher recording the processes it started."""
        check_move(TRANSITIONS, expected, target)
        return move_each(self.session, _WORKLOADS, expected.value, target.value, rows)

    def set(self, workload_id: str, **values: Any) -> None:
        self.session.execute(
            update(WorkloadRow).where(WorkloadRow.id == workload_id).values(**values)
        )

    def key_ids(self, workload_id: str) -> list[int]:
        row = self.session.get(WorkloadRow, workload_id)
        return list(row.api_key_ids or []) if row else []

    def with_status(self, *statuses: WorkloadStatus) -> list[Workload]:
        rows = self.session.scalars(
            select(WorkloadRow)
            .where(WorkloadRow.status.in_([s.value for s in statuses]))
            .order_by(WorkloadRow.created_at)
        )
        return [to_workload(r) for r in rows]

    def owned(self, workload_ids: list[str]) -> frozenset[str]:
        """Those of ``workload_ids`` that a job run, session, application, model build or
        model replica records as its workload. One statement for every owner table (the
        scheduler asks each tick about every workload running for over a minute)."""
        found: list[str | None] = []
        for start in range(0, len(workload_ids), 500):  # bounded IN lists
            batch = workload_ids[start : start + 500]
            owners = union_all(
                *(select(column.label("id")).where(column.in_(batch)) for column in _OWNER_COLUMNS)
            )
            found.extend(self.session.scalars(select(owners.subquery().c.id)))
        return frozenset(w for w in found if w)

    def children(self, parent_id: str) -> list[Workload]:
        """The workers a workload launched, oldest first."""
        rows = self.session.scalars(
            select(WorkloadRow)
            .where(WorkloadRow.parent_id == parent_id)
            .order_by(WorkloadRow.created_at, WorkloadRow.id)
        )
        return [to_workload(r) for r in rows]

    def held_by_user(self, user_id: int) -> tuple[float, int]:
        """CPU and memory (MiB) held by the user's workloads that are not finished."""
        return self.held_by_users([user_id]).get(user_id, (0.0, 0))

    def held_by_users(self, user_ids: list[int] | None = None) -> dict[int, tuple[float, int]]:
        """CPU and memory (MiB) held per user (all users, or ``user_ids``) by workloads that
        started and have not finished; users holding nothing are left out."""
        held = [
            s.value
            for s in WorkloadStatus
            if s not in FINAL_STATUSES and s is not WorkloadStatus.PENDING
        ]
        query = (
            select(WorkloadRow.user_id, func.sum(WorkloadRow.cpu), func.sum(WorkloadRow.memory_mb))
            .where(WorkloadRow.status.in_(held))
            .group_by(WorkloadRow.user_id)
        )
        if user_ids is not None:
            query = query.where(WorkloadRow.user_id.in_(user_ids))
        return {
            int(user_id): (float(cpu or 0.0), int(memory or 0))
            for user_id, cpu, memory in self.session.execute(query)
        }

    # Resource profiles and quotas ----------------------------------------------------

    def profiles(self) -> list[ResourceProfile]:
        rows = self.session.scalars(
            select(ResourceProfileRow).order_by(
                ResourceProfileRow.cpu, ResourceProfileRow.memory_mb
            )
        )
        return [ResourceProfile(r.id, r.name, r.cpu, r.memory_mb, r.gpu) for r in rows]

    def add_profile(self, name: str, cpu: float, memory_mb: int, gpu: int) -> ResourceProfile:
        row = ResourceProfileRow(name=name, cpu=cpu, memory_mb=memory_mb, gpu=gpu)
        self.session.add(row)
        self.session.flush()
        return ResourceProfile(row.id, row.name, row.cpu, row.memory_mb, row.gpu)

    def delete_profile(self, profile_id: int) -> bool:
        row = self.session.get(ResourceProfileRow, profile_id)
        if row is None:
            return False
        self.session.delete(row)
        return True

    def quota(self, user_id: int) -> tuple[float, int] | None:
        row = self.session.get(UserQuotaRow, user_id)
        return (row.cpu, row.memory_mb) if row else None

    def quotas(self) -> dict[int, tuple[float, int]]:
        """Every user's own quota (users on the default have none)."""
        rows = self.session.scalars(select(UserQuotaRow))
        return {r.user_id: (r.cpu, r.memory_mb) for r in rows}

    def clear_quota(self, user_id: int) -> bool:
        row = self.session.get(UserQuotaRow, user_id)
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    def set_quota(self, user_id: int, cpu: float, memory_mb: int) -> None:
        row = self.session.get(UserQuotaRow, user_id)
        if row is None:
            self.session.add(UserQuotaRow(user_id=user_id, cpu=cpu, memory_mb=memory_mb))
        else:
            row.cpu, row.memory_mb = cpu, memory_mb
        self.session.flush()

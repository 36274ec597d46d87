"""Models, builds, deployments and replica slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lakeworks.entities.models import (
    BUILD_TRANSITIONS,
    DEPLOYMENT_TRANSITIONS,
    BuildStatus,
    DeploymentStatus,
    Model,
    ModelBuild,
    ModelDeployment,
    Replica,
)
from lakeworks.entities.status import check_move
from lakeworks.store.tables import (
    ModelBuildRow,
    ModelDeploymentRow,
    ModelReplicaRow,
    ModelRow,
    UserRow,
    utcnow,
)


def to_model(row: ModelRow, creator: str = "") -> Model:
    return Model(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        description=row.description,
        auth_enabled=row.auth_enabled,
        access_key_hash=row.access_key_hash,
        access_key_sealed=row.access_key_sealed,
        creator_id=row.creator_id,
        registered_model_id=row.registered_model_id,
        default_cpu=row.default_cpu,
        default_memory_mb=row.default_memory_mb,
        default_replicas=row.default_replicas,
        created_at=row.created_at,
        updated_at=row.updated_at,
        creator_username=creator,
    )


def to_build(row: ModelBuildRow, creator: str = "") -> ModelBuild:
    return ModelBuild(
        id=row.id,
        model_id=row.model_id,
        project_id=row.project_id,
        creator_id=row.creator_id,
        comment=row.comment,
        file_path=row.file_path,
        function_name=row.function_name,
        runtime_identifier=row.runtime_identifier,
        registered_model_version_id=row.registered_model_version_id,
        build_script_path=row.build_script_path,
        status=BuildStatus(row.status),
        examples=list(row.examples or []),
        workload_id=row.workload_id,
        env_hash=row.env_hash,
        auto_deploy=dict(row.auto_deploy or {}),
        reason=row.reason,
        built_at=row.built_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        creator_username=creator,
    )


def to_deployment(row: ModelDeploymentRow, deployer: str = "") -> ModelDeployment:
    return ModelDeployment(
        id=row.id,
        model_id=row.model_id,
        build_id=row.build_id,
        project_id=row.project_id,
        deployer_id=row.deployer_id,
        cpu=row.cpu,
        memory_mb=row.memory_mb,
        replicas=row.replicas,
        environment=dict(row.environment or {}),
        status=DeploymentStatus(row.status),
        timeout_seconds=row.timeout_seconds,
        generation=row.generation,
        reason=row.reason or "",
        created_at=row.created_at,
        updated_at=row.updated_at,
        stopped_at=row.stopped_at,
        deployer_username=deployer,
    )


def to_replica(row: ModelReplicaRow) -> Replica:
    return Replica(
        workload_id=row.workload_id,
        deployment_id=row.deployment_id,
        slot=row.slot,
        generation=row.generation,
        ready=row.ready,
        retired=row.retired,
        restarts=row.restarts,
        created_at=row.created_at,
    )


class ModelRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Models ---------------------------------------------------------------------------

    def add(self, **values: Any) -> Model:
        now = utcnow()
        row = ModelRow(created_at=now, updated_at=now, **values)
        self.session.add(row)
        self.session.flush()
        return to_model(row)

    def get(self, model_id: str) -> Model | None:
        found = self.session.execute(
            select(ModelRow, UserRow.username)
            .join(UserRow, UserRow.id == ModelRow.creator_id)
            .where(ModelRow.id == model_id)
        ).first()
        return to_model(found[0], found[1]) if found else None

    def by_key_hash(self, key_hash: str) -> Model | None:
        row = self.session.scalar(select(ModelRow).where(ModelRow.access_key_hash == key_hash))
        return to_model(row) if row else None

    def by_name(self, project_id: str, name: str) -> Model | None:
        row = self.session.scalar(
            select(ModelRow).where(ModelRow.project_id == project_id, ModelRow.name == name)
        )
        return to_model(row) if row else None

    def update(self, model_id: str, **values: Any) -> None:
        self.session.execute(
            update(ModelRow).where(ModelRow.id == model_id).values(updated_at=utcnow(), **values)
        )

    def delete(self, model_id: str) -> None:
        row = self.session.get(ModelRow, model_id)
        if row is not None:
            self.session.delete(row)

    def of_project(self, project_id: str | None) -> list[Model]:
        query = select(ModelRow, UserRow.username).join(UserRow, UserRow.id == ModelRow.creator_id)
        if project_id is not None:
            query = query.where(ModelRow.project_id == project_id)
        rows = self.session.execute(query.order_by(ModelRow.created_at, ModelRow.id))
        return [to_model(r, u) for r, u in rows]

    # Builds ---------------------------------------------------------------------------

    def add_build(self, **values: Any) -> ModelBuild:
        now = utcnow()
        row = ModelBuildRow(created_at=now, updated_at=now, **values)
        self.session.add(row)
        self.session.flush()
        return to_build(row)

    def get_build(self, build_id: str) -> ModelBuild | None:
        found = self.session.execute(
            select(ModelBuildRow, UserRow.username)
            .join(UserRow, UserRow.id == ModelBuildRow.creator_id)
            .where(ModelBuildRow.id == build_id)
        ).first()
        return to_build(found[0], found[1]) if found else None

    def builds_of(self, model_id: str) -> list[ModelBuild]:
        rows = self.session.execute(
            select(ModelBuildRow, UserRow.username)
            .join(UserRow, UserRow.id == ModelBuildRow.creator_id)
            .where(ModelBuildRow.model_id == model_id)
            .order_by(ModelBuildRow.created_at, ModelBuildRow.id)
        )
        return [to_build(r, u) for r, u in rows]

    def builds_with_status(self, *statuses: BuildStatus) -> list[ModelBuild]:
        rows = self.session.scalars(
            select(ModelBuildRow).where(ModelBuildRow.status.in_([s.value for s in statuses]))
        )
        return [to_build(r) for r in rows]

    def build_for_workload(self, workload_id: str) -> ModelBuild | None:
        row = self.session.scalar(
            select(ModelBuildRow).where(ModelBuildRow.workload_id == workload_id)
        )
        return to_build(row) if row else None

    def move_build(
        self, build_id: str, expected: BuildStatus, target: BuildStatus, **values: Any
    ) -> bool:
        check_move(BUILD_TRANSITIONS, expected, target)
        result = self.session.execute(
            update(ModelBuildRow)
            .where(ModelBuildRow.id == build_id, ModelBuildRow.status == expected.value)
            .values(status=target.value, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)

    def set_build(self, build_id: str, **values: Any) -> None:
        self.session.execute(
            update(ModelBuildRow)
            .where(ModelBuildRow.id == build_id)
            .values(updated_at=utcnow(), **values)
        )

    # Deployments ----------------------------------------------------------------------

    def add_deployment(self, **values: Any) -> ModelDeployment:
        now = utcnow()
        row = ModelDeploymentRow(created_at=now, updated_at=now, **values)
        self.session.add(row)
        self.session.flush()
        return to_deployment(row)

    def get_deployment(self, deployment_id: str) -> ModelDeployment | None:
        found = self.session.execute(
            select(ModelDeploymentRow, UserRow.username)
            .join(UserRow, UserRow.id == ModelDeploymentRow.deployer_id)
            .where(ModelDeploymentRow.id == deployment_id)
        ).first()
        return to_deployment(found[0], found[1]) if found else None

    def deployments_of(self, model_id: str, build_id: str | None = None) -> list[ModelDeployment]:
        query = (
            select(ModelDeploymentRow, UserRow.username)
            .join(UserRow, UserRow.id == ModelDeploymentRow.deployer_id)
            .where(ModelDeploymentRow.model_id == model_id)
        )
        if build_id is not None:
            query = query.where(ModelDeploymentRow.build_id == build_id)
        rows = self.session.execute(
            query.order_by(ModelDeploymentRow.created_at, ModelDeploymentRow.id)
        )
        return [to_deployment(r, u) for r, u in rows]

    def deployments_with_status(self, *statuses: DeploymentStatus) -> list[ModelDeployment]:
        rows = self.session.scalars(
            select(ModelDeploymentRow)
            .where(ModelDeploymentRow.status.in_([s.value for s in statuses]))
            .order_by(ModelDeploymentRow.created_at)
        )
        return [to_deployment(r) for r in rows]

    def move_deployment(
        self,
        deployment_id: str,
        expected: DeploymentStatus,
        target: DeploymentStatus,
        **values: Any,
    ) -> bool:
        check_move(DEPLOYMENT_TRANSITIONS, expected, target)
        result = self.session.execute(
            update(ModelDeploymentRow)
            .where(
                ModelDeploymentRow.id == deployment_id,
                ModelDeploymentRow.status == expected.value,
            )
            .values(status=target.value, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)

    def set_deployment(self, deployment_id: str, **values: Any) -> None:
        self.session.execute(
            update(ModelDeploymentRow)
            .where(ModelDeploymentRow.id == deployment_id)
            .values(updated_at=utcnow(), **values)
        )

    # Replicas -------------------------------------------------------------------------

    def add_replica(
        self, workload_id: str, deployment_id: str, slot: int, generation: int, restarts: int
    ) -> None:
        self.session.add(
            ModelReplicaRow(
                workload_id=workload_id,
                deployment_id=deployment_id,
                slot=slot,
                generation=generation,
                ready=False,
                retired=False,
                restarts=restarts,
                created_at=utcnow(),
            )
        )
        self.session.flush()

    def replicas_of(self, deployment_id: str, *, live: bool = True) -> list[Replica]:
        """A deployment's replicas by slot, oldest first; ``live``: not retired only."""
        return self.replicas_of_many([deployment_id], live=live)[deployment_id]

    def replicas_of_many(
        self, deployment_ids: Sequence[str], *, live: bool = True
    ) -> dict[str, list[Replica]]:
        """``replicas_of`` for many deployments in one query: deployment id → its replicas
        (a list for every id given)."""
        found: dict[str, list[Replica]] = {deployment_id: [] for deployment_id in deployment_ids}
        if not deployment_ids:
            return found
        query = select(ModelReplicaRow).where(ModelReplicaRow.deployment_id.in_(deployment_ids))
        if live:
            query = query.where(ModelReplicaRow.retired.is_(False))
        rows = self.session.scalars(
            query.order_by(ModelReplicaRow.slot, ModelReplicaRow.created_at)
        )
        for row in rows:
            found[row.deployment_id].append(to_replica(row))
        return found

    def replica(self, workload_id: str) -> Replica | None:
        row = self.session.get(ModelReplicaRow, workload_id)
        return to_replica(row) if row else None

    def set_replica(self, workload_id: str, **values: Any) -> None:
        self.session.execute(
            update(ModelReplicaRow)
            .where(ModelReplicaRow.workload_id == workload_id)
            .values(**values)
        )

"""Table definitions (SQLAlchemy 2 declarative). Rows never leave ``store/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # In every browser session cookie; moving it ends all of the user's earlier sessions.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TeamRow(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMemberRow(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The role members get on projects the team owns (viewer, operator, contributor, admin).
    role: Mapped[str] = mapped_column(String(16), default="contributor")


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) <> (owner_team_id IS NULL)", name="one_owner"),
        Index("ix_projects_created_at", "created_at"),
        # NULLs are distinct, so each pair only bites for the owner kind that is set.
        UniqueConstraint("owner_user_id", "slug", name="uq_projects_user_slug"),
        UniqueConstraint("owner_team_id", "slug", name="uq_projects_team_slug"),
    )

    id: Mapped[str] = mapped_column(String(19), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16))
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=True
    )
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True
    )
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    source: Mapped[str] = mapped_column(String(16))
    git_url: Mapped[str] = mapped_column(Text, default="")
    creation_status: Mapped[str] = mapped_column(String(16))
    creation_message: Mapped[str] = mapped_column(Text, default="")
    default_engine_type: Mapped[str] = mapped_column(String(32), default="ml_runtime")
    shared_memory_limit: Mapped[int] = mapped_column(Integer, default=64)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectMemberRow(Base):
    __tablename__ = "project_members"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="user_or_team"),
        UniqueConstraint("project_id", "user_id", name="uq_project_members_user"),
        UniqueConstraint("project_id", "team_id", name="uq_project_members_team"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectEnvRow(Base):
    __tablename__ = "project_env"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    # No foreign key: the trail outlives deleted projects.
    project_id: Mapped[str | None] = mapped_column(String(19), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WorkloadRow(Base):
    __tablename__ = "workloads"
    __table_args__ = (
        Index("ix_workloads_status", "status"),
        Index("ix_workloads_project_id", "project_id"),
        Index("ix_workloads_parent_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the CML engine id
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    executor: Mapped[str] = mapped_column(String(16))
    handle: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str] = mapped_column(String(200), default="")
    log_path: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    api_key_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Workers (compat §12): the session or job run workload that launched them, their name.
    parent_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ResourceProfileRow(Base):
    __tablename__ = "resource_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cpu: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    gpu: Mapped[int] = mapped_column(Integer, default=0)


class UserQuotaRow(Base):
    """Per-user limits on what their running workloads may hold at once."""

    __tablename__ = "user_quotas"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    cpu: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_project_id", "project_id"),
        Index("ix_jobs_next_fire_at", "next_fire_at"),
        Index("ix_jobs_parent_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(19), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # "job", or "experiment": the hidden job of one legacy experiment run (0014)
    kind: Mapped[str] = mapped_column(String(16), default="job", server_default="job")
    name: Mapped[str] = mapped_column(String(200))
    script: Mapped[str] = mapped_column(Text)
    arguments: Mapped[str] = mapped_column(Text, default="")
    runtime_identifier: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    environment: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=0)
    kill_on_timeout: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule_kind: Mapped[str] = mapped_column(String(16))
    schedule: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRunRow(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        Index("ix_job_runs_job_id", "job_id"),
        Index("ix_job_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(19), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    arguments: Mapped[str] = mapped_column(Text, default="")
    environment: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    workload_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(19), nullable=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    starting_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    running_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


# Sessions (issue 6: JupyterLab and workbench sessions) ---------------------------------


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_project_id", "project_id"),
        Index("ix_sessions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(19), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    editor: Mapped[str] = mapped_column(String(16))
    runtime_identifier: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    spark: Mapped[bool] = mapped_column(Boolean, default=False)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    workload_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kernel_key_sealed: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


# --- Models, builds, deployments, replicas (issue 5; migration 0003) -------------------------


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_models_project_id_name"),
        Index("ix_models_access_key_hash", "access_key_hash", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    auth_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    access_key_hash: Mapped[str] = mapped_column(String(64))
    access_key_sealed: Mapped[str] = mapped_column(Text, default="")  # for the sample code
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    registered_model_id: Mapped[str] = mapped_column(String(64), default="")
    default_cpu: Mapped[float] = mapped_column(Float, default=1.0)
    default_memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    default_replicas: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelBuildRow(Base):
    __tablename__ = "model_builds"
    __table_args__ = (Index("ix_model_builds_model_id", "model_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    comment: Mapped[str] = mapped_column(Text, default="")
    file_path: Mapped[str] = mapped_column(Text, default="")
    function_name: Mapped[str] = mapped_column(String(200), default="")
    runtime_identifier: Mapped[str] = mapped_column(Text, default="")
    registered_model_version_id: Mapped[str] = mapped_column(String(64), default="")
    build_script_path: Mapped[str] = mapped_column(Text, default="cdsw-build.sh")
    status: Mapped[str] = mapped_column(String(16))
    examples: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    workload_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    env_hash: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why it failed or stopped
    # Deploy once built: {"cpu", "memory_mb", "replicas", "environment"}; {} for no.
    auto_deploy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelDeploymentRow(Base):
    __tablename__ = "model_deployments"
    __table_args__ = (
        Index("ix_model_deployments_model_id", "model_id"),
        Index("ix_model_deployments_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    build_id: Mapped[str] = mapped_column(ForeignKey("model_builds.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    deployer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    environment: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    timeout_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    generation: Mapped[int] = mapped_column(Integer, default=0)  # bumped by a restart
    reason: Mapped[str] = mapped_column(Text, default="")  # why it failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ModelReplicaRow(Base):
    """One replica slot of a deployment and the workload currently filling it."""

    __tablename__ = "model_replicas"
    __table_args__ = (Index("ix_model_replicas_deployment_id", "deployment_id"),)

    workload_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("model_deployments.id", ondelete="CASCADE")
    )
    slot: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)  # answered its health check
    retired: Mapped[bool] = mapped_column(Boolean, default=False)  # replaced or stopped
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Model metrics store (issue 5, metrics; DESIGN §6, compat §4) ---------------------------
# Plain string ids, no foreign keys to the model tables: records outlive deployments, and the
# gateway writes them in batches without looking anything up.

# An auto-incrementing 64-bit key on PostgreSQL; SQLite's rowid (INTEGER PRIMARY KEY) there.
_SEQ = BigInteger().with_variant(Integer, "sqlite")


class ModelPredictionRow(Base):
    """One ``read_metrics`` record: a prediction (uuid set) or an aggregate window (uuid NULL).

    ``seq`` is the insertion order. ``metrics`` is the JSON text of the metrics object, kept
    as text so reads can hand it out without decoding it.
    """

    __tablename__ = "model_predictions"
    __table_args__ = (
        Index("ix_model_predictions_deployment_start", "deployment_id", "start_ms"),
        Index("ix_model_predictions_model_start", "model_id", "start_ms"),
        Index("ix_model_predictions_build_start", "build_id", "start_ms"),
        Index("uq_model_predictions_prediction_uuid", "prediction_uuid", unique=True),
    )

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(String(64))
    build_id: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(64))
    prediction_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[str] = mapped_column(Text, default="{}")


class ModelRequestRow(Base):
    """One request through the model gateway, for the monitoring charts."""

    __tablename__ = "model_requests"
    __table_args__ = (
        Index("ix_model_requests_model_at", "model_id", "at_ms"),
        Index("ix_model_requests_deployment_at", "deployment_id", "at_ms"),
    )

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    replica_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[int] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)


# --- end model metrics store ----------------------------------------------------------------


# --- Applications (issue 6, part A; migration 0005) -------------------------------------------


class ApplicationRow(Base):
    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_project_id", "project_id"),
        Index("ix_applications_status", "status"),
        Index("ix_applications_workload_id", "workload_id"),
        UniqueConstraint("subdomain", name="uq_applications_subdomain"),
    )

    id: Mapped[str] = mapped_column(String(19), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    subdomain: Mapped[str] = mapped_column(String(63))
    script: Mapped[str] = mapped_column(Text)
    runtime_identifier: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[float] = mapped_column(Float, default=1.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=2048)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    environment: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    bypass_authentication: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32))
    workload_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    target: Mapped[str] = mapped_column(String(64), default="")
    port_name: Mapped[str] = mapped_column(String(32), default="")
    restarts: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    starting_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    running_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- end applications -------------------------------------------------------------------------

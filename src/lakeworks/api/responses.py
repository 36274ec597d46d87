"""API v2 response models: what each route answers, with CML's field names (compat §6.7), so
``/api/v2/openapi.json`` describes every answer and ``cmlapi`` can be checked against it.

The routes still build plain dicts (``schemas.project_out``, ``jobs.job_out``, ...); these
models only declare and check them. Every route uses them with
``response_model_exclude_unset=True`` (see ``strict_json.StrictJSONRoute``), so an answer keeps
exactly the keys its dict has: a field declared here but absent from the dict is not added.
Models accept undeclared keys (``extra="allow"``) so that a key a route adds before its model
does is never dropped; ``tests/api/test_openapi_responses.py`` fails on such a key instead.

Class names are ``cmlapi``'s model names where it has one (``Project``, ``ListJobsResponse``):
the OpenAPI components then carry the names the client uses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

# int64 values CML sends as JSON strings stay strings; a number keeps its JSON type (a smart
# union keeps 1 as 1 and 0.5 as 0.5).
Number = int | float
Time = str  # RFC 3339 UTC ("…Z"), "" when not set
TIME = Field(description='RFC 3339 UTC time, "" when not set.')
ENV_STRING = Field(description='The environment as a JSON-encoded object ("{}" when empty).')
PAGE_TOKEN = Field(description='Pass back as page_token for the next page; "" on the last.')


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


def listing(name: str, field: str, item: type[Out], *, paged: bool = True) -> type[Out]:
    """The answer of a list route: ``{field: [item, ...], "next_page_token": ...}`` (without
    the token unless ``paged``), as the model ``name`` (cmlapi's name for it)."""
    fields: dict[str, Any] = {field: (list[item], ...)}  # type: ignore[valid-type]
    if paged:
        fields["next_page_token"] = (str, PAGE_TOKEN)
    model: type[Out] = create_model(name, __base__=Out, __module__=__name__, **fields)
    return model


class Deleted(Out):
    """The answer to a deletion: an empty object."""

    model_config = ConfigDict(extra="forbid")


class ShortUser(Out):
    username: str
    name: str
    email: str
    type: str | None = None


class TextLog(Out):
    """A piece of a log: the text from ``offset``; poll again from ``next_offset``."""

    text: str
    offset: int
    next_offset: int


# Projects ---------------------------------------------------------------------------------


class ProjectPermissions(Out):
    business_user: bool
    read: bool
    operator: bool
    write: bool
    admin: bool
    owner: bool


class AmpTask(Out):
    position: int
    type: str
    name: str
    line: int
    status: str
    reason: str
    attempts: int
    entity_id: str
    tracked_id: str
    started_at: Time = TIME
    finished_at: Time = TIME
    duration_seconds: float | None
    log_url: str


class AmpSetup(Out):
    """An AMP's setup: its ``.project-metadata.yaml`` tasks and where each stands."""

    project_id: str
    name: str
    status: str
    reason: str
    runtime_identifier: str
    warnings: list[str]
    created_at: Time = TIME
    updated_at: Time = TIME
    finished_at: Time = TIME
    tasks: list[AmpTask]


class Project(Out):
    id: str
    name: str
    slug: str
    owner: ShortUser
    creator: ShortUser
    description: str
    visibility: str = Field(description="private, organization or public")
    default_engine_type: str
    created_at: Time = TIME
    updated_at: Time = TIME
    creation_status: str = Field(description="creating, success or failure")
    creation_message: str
    git_url: str
    permissions: ProjectPermissions
    role: str
    shared_memory_limit: int
    environment: str = ENV_STRING
    secret_environment_names: list[str]
    ephemeral_storage_request: int
    ephemeral_storage_limit: int
    amp: AmpSetup | None = Field(None, description="Only when the project was made from an AMP.")


ListProjectsResponse = listing("ListProjectsResponse", "projects", Project)


class ProjectCollaborator(Out):
    username: str
    permission: str
    role: str
    type: str
    user: ShortUser
    created_at: Time = TIME


ListProjectCollaboratorsResponse = listing(
    "ListProjectCollaboratorsResponse", "collaborators", ProjectCollaborator
)


class FileInfo(Out):
    path: str
    name: str
    is_dir: bool
    file_size: str = Field(description="Bytes, as an int64 string.")
    last_modified: Time = TIME


ListProjectFilesResponse = listing("ListProjectFilesResponse", "files", FileInfo, paged=False)


# Users, keys, teams, audit ------------------------------------------------------------------


class UserOut(Out):
    id: int
    username: str
    name: str
    email: str
    is_admin: bool
    is_active: bool
    created_at: Time = TIME


ListUsersResponse = listing("ListUsersResponse", "users", UserOut, paged=False)


class ApiKey(Out):
    key_id: str
    name: str
    prefix: str
    kind: str
    key: str | None = Field(None, description="The secret: only in the answer that made it.")
    created_at: Time = TIME
    expiry: Time = TIME
    revoked_at: Time = TIME
    last_used_at: Time = TIME


ListV2KeysResponse = listing("ListV2KeysResponse", "api_keys", ApiKey, paged=False)


class CreateV2KeyResponse(Out):
    api_key: ApiKey
    key: str = Field(description="The secret, shown this once; only its hash is kept.")


class ValidateKeyResponse(Out):
    valid: bool
    username: str | None = None
    message: str | None = Field(None, description="Why the key is not valid.")


class TeamMember(Out):
    username: str
    name: str
    role: str


class TeamOut(Out):
    id: int
    name: str
    username: str
    description: str
    created_at: Time = TIME
    members: list[TeamMember] | None = None


ListTeamsResponse = listing("ListTeamsResponse", "teams", TeamOut, paged=False)


class AuditEventOut(Out):
    id: int
    at: Time = TIME
    actor: str
    action: str
    target: str
    project_id: str
    outcome: str
    detail: dict[str, Any]


class ListAuditEventsResponse(Out):
    audit_events: list[AuditEventOut]
    next_page_token: str = PAGE_TOKEN
    total: int


# Jobs -------------------------------------------------------------------------------------


class JobRecipient(Out):
    email: str
    notify_on_success: bool
    notify_on_failure: bool
    notify_on_timeout: bool
    notify_on_stop: bool


class JobRun(Out):
    id: str
    job_id: str
    project_id: str
    status: str = Field(description="EngineStatus: ENGINE_SCHEDULING, ENGINE_RUNNING, ...")
    trigger: str
    engine_id: str
    created_at: Time = TIME
    scheduling_at: Time = TIME
    starting_at: Time = TIME
    running_at: Time = TIME
    finished_at: Time = TIME
    scheduled_for: Time = TIME
    duration_seconds: Number | None
    exit_code: int | None
    reason: str
    cpu: Number
    memory: Number = Field(description="GiB")
    nvidia_gpu: int
    kernel: str
    arguments: str
    environment: str = ENV_STRING
    creator: ShortUser
    parent_run_id: str


ListJobRunsResponse = listing("ListJobRunsResponse", "job_runs", JobRun)


class Job(Out):
    id: str
    project_id: str
    name: str
    script: str
    arguments: str
    cpu: Number
    memory: Number = Field(description="GiB")
    nvidia_gpu: int
    kernel: str
    runtime_identifier: str
    runtime_addon_identifiers: list[str]
    engine_image_id: str
    environment: str = ENV_STRING
    parent_id: str = Field(description='The parent job\'s id, "" when none.')
    type: str = Field(description="manual, cron or dependent")
    schedule: str
    english_schedule: str
    timezone: str
    paused: bool
    timeout: int = Field(description="seconds")
    kill_on_timeout: bool
    recipients: list[JobRecipient]
    creator: ShortUser
    next_fire_at: Time = TIME
    created_at: Time = TIME
    updated_at: Time = TIME
    latest: JobRun | None = Field(description="The newest run, if any.")


ListJobsResponse = listing("ListJobsResponse", "jobs", Job)


class JobRunLog(TextLog):
    finished: bool
    status: str


# Applications ------------------------------------------------------------------------------


class Application(Out):
    id: str
    project_id: str
    name: str
    description: str
    creator: ShortUser
    script: str
    subdomain: str
    status: str = Field(description="APPLICATION_RUNNING, APPLICATION_STOPPED, ...")
    status_message: str
    created_at: Time = TIME
    updated_at: Time = TIME
    starting_at: Time = TIME
    running_at: Time = TIME
    stopped_at: Time = TIME
    kernel: str
    cpu: Number
    memory: Number = Field(description="GiB")
    nvidia_gpu: int
    bypass_authentication: bool
    environment: str = ENV_STRING
    runtime_identifier: str
    runtime_addon_identifiers: list[str]
    run_as: int
    cdv_app: bool
    resource_group_id: str
    resource_profile_id: str
    accelerator_label_id: str
    engine_id: str
    url: str
    path_url: str
    restarts: int


ListApplicationsResponse = listing("ListApplicationsResponse", "applications", Application)


class ApplicationLog(TextLog):
    status: str
    engine_id: str


# Resources and runtimes --------------------------------------------------------------------


class ResourceProfile(Out):
    id: int
    name: str
    cpu: Number
    memory: Number = Field(description="GiB")
    nvidia_gpu: int


ListResourceProfilesResponse = listing(
    "ListResourceProfilesResponse", "resource_profiles", ResourceProfile, paged=False
)


class Quota(Out):
    username: str
    cpu: Number
    memory: Number = Field(description="GiB")
    is_default: bool


class Runtime(Out):
    image_identifier: str
    editor: str
    kernel: str
    edition: str
    description: str
    full_version: str
    status: str = Field(description="ENABLED, DISABLED or DEPRECATED")
    register_user_id: int


ListRuntimesResponse = listing("ListRuntimesResponse", "runtimes", Runtime)


class RuntimeAddon(Out):
    id: int
    identifier: str
    component: str
    display_name: str
    status: str
    manageable: bool
    created_at: Time = TIME
    reason: str


ListRuntimeAddonsResponse = listing("ListRuntimeAddonsResponse", "runtime_addons", RuntimeAddon)


class RuntimeBuild(Out):
    """A runtime of this host and its build state."""

    python_version: str
    edition: str
    key: str
    full_version: str
    name: str
    state: str = Field(description="built, building, failed, not built or unavailable")
    reason: str
    size_bytes: int | None
    built_at: str
    is_default: bool


class ListRuntimeBuildsResponse(Out):
    runtimes: list[RuntimeBuild]
    stale: list[str] = Field(description="Runtimes of earlier releases still on disk.")


class RuntimeBuildLog(RuntimeBuild):
    text: str
    offset: int
    next_offset: int


# Model metrics (compat §4) --------------------------------------------------------------------


class MetricsRecord(Out):
    modelDeploymentCrn: str
    modelBuildCrn: str
    modelCrn: str
    startTimeStampMs: int
    endTimeStampMs: int
    predictionUuid: str = Field(description='"" for an aggregate record.')
    metrics: dict[str, Any]


ReadMetricsResponse = listing("ReadMetricsResponse", "metrics", MetricsRecord, paged=False)


# Experiments and the registry -----------------------------------------------------------------


class KeyValue(Out):
    key: str
    value: str


class ExperimentRunMetric(Out):
    key: str
    value: float | str = Field(description='A number, or "NaN", "Infinity", "-Infinity".')
    timestamp: str = Field(description="Milliseconds, as an int64 string.")
    step: str = Field(description="An int64 string.")


class Experiment(Out):
    id: str
    project_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    created_at: Time = TIME
    updated_at: Time = TIME
    tags: list[KeyValue]
    user: ShortUser


ListExperimentsResponse = listing("ListExperimentsResponse", "experiments", Experiment)


class ExperimentRunData(Out):
    metrics: list[ExperimentRunMetric]
    params: list[KeyValue]
    tags: list[KeyValue]
    files: list[Any]
    registered_model_metadata: list[Any]


class ExperimentRunInputs(Out):
    dataset_inputs: list[Any]


class ExperimentRun(Out):
    id: str
    name: str
    experiment_id: str
    user: ShortUser
    status: str
    lifecycle_stage: str
    start_time: str = Field(description="Milliseconds, as an int64 string.")
    end_time: str = Field(description="Milliseconds, as an int64 string; 0 while running.")
    artifact_uri: str
    data: ExperimentRunData
    inputs: ExperimentRunInputs


ListExperimentRunsResponse = listing("ListExperimentRunsResponse", "experiment_runs", ExperimentRun)


GetExperimentRunMetricsResponse = listing(
    "GetExperimentRunMetricsResponse", "metrics", ExperimentRunMetric, paged=False
)


class MLflowMetadata(Out):
    experiment_id: str
    run_id: str
    source: str
    metrics: list[Any]
    params: list[Any]
    tags: list[Any]


class ModelVersionMetadata(Out):
    mlops_type: str = Field(description="MLFLOW")
    workspace_url: str
    project_id: str
    owner: str
    mlflow_metadata: MLflowMetadata


class RegisteredModelVersion(Out):
    model_version_id: str
    version_name: str
    number: int
    notes: str
    user: ShortUser
    status: str
    tags: list[KeyValue]
    error_message: str
    created_at: Time = TIME
    model_version_metadata: ModelVersionMetadata


class RegisteredModel(Out):
    model_id: str
    name: str
    description: str
    owner: ShortUser
    permission: str
    visibility: str = Field(description="PRIVATE or PUBLIC")
    project_id: str
    created_at: Time = TIME
    updated_at: Time = TIME
    model_versions: list[RegisteredModelVersion]


ListRegisteredModelsResponse = listing("ListRegisteredModelsResponse", "models", RegisteredModel)


# Models, builds, deployments -------------------------------------------------------------------


class ModelResources(Out):
    cpu_millicores: int
    memory_mb: int
    nvidia_gpus: int


class ReplicationPolicy(Out):
    type: str = Field(description="fixed")
    num_replicas: int


class ModelProject(Out):
    public_identifier: str


class FeatureDrift(Out):
    name: str
    psi: float = Field(description="Population stability index over ten quantile bins.")
    ks: float = Field(description="Kolmogorov-Smirnov statistic.")
    ks_pvalue: float
    reference_count: int
    current_count: int
    drifted: bool


class ModelDrift(Out):
    """Lakeworks: a model's drift, its serving build's training sample against the newest
    predictions' ``input_data``."""

    model_id: str
    build_id: str
    threshold: float
    recent_limit: int
    recent_records: int
    snapshot_ids: list[str]
    drifted: list[str]
    features: list[FeatureDrift]
    skipped: dict[str, str]
    problem: str


class Model(Out):
    id: str
    name: str
    description: str
    creator: ShortUser
    crn: str
    access_key: str
    auth_enabled: bool
    deletion_status: str
    project: ModelProject
    project_id: str
    registered_model_id: str
    visibility: str
    default_resources: ModelResources
    default_replication_policy: ReplicationPolicy
    run_as: int
    created_at: Time = TIME
    updated_at: Time = TIME


ListModelsResponse = listing("ListModelsResponse", "models", Model)


class ModelBuild(Out):
    id: str
    model_id: str
    project_id: str
    crn: str
    creator: ShortUser
    comment: str
    file_path: str
    function_name: str
    engine_image: str
    kernel: str
    runtime_identifier: str
    runtime_addon_identifiers: list[str]
    registered_model_version_id: str
    model_root_dir: str
    build_script_path: str
    status: str = Field(description="pending, building, built, build failed, ...")
    failure_reason: str
    built_at: Time = TIME
    deletion_status: str
    examples: list[dict[str, Any]]
    created_at: Time = TIME
    updated_at: Time = TIME


ListModelBuildsResponse = listing("ListModelBuildsResponse", "model_builds", ModelBuild)


class ModelBuildLog(Out):
    logs: str


class ModelDeployment(Out):
    id: str
    crn: str
    project_id: str
    model_id: str
    build_id: str
    cpu: Number
    memory: Number = Field(description="GiB")
    nvidia_gpu: int
    replicas: int
    environment: str = ENV_STRING
    status: str = Field(description="pending, deploying, deployed, stopping, stopped, failed")
    failure_reason: str
    deployer: ShortUser
    timeout: Number = Field(description="seconds; 0: the site's default")
    created_at: Time = TIME
    updated_at: Time = TIME
    stopped_at: Time = TIME


ListModelDeploymentsResponse = listing(
    "ListModelDeploymentsResponse", "model_deployments", ModelDeployment
)


class ModelReplica(Out):
    id: str
    slot: int
    state: str
    ready: bool
    restarts: int
    created_at: Time = TIME


ListModelReplicasResponse = listing(
    "ListModelReplicasResponse", "replicas", ModelReplica, paged=False
)


# Data: the Iceberg catalog and connections -----------------------------------------------------


class Namespace(Out):
    name: str
    properties: dict[str, str]


ListNamespacesResponse = listing("ListNamespacesResponse", "namespaces", Namespace, paged=False)


class TableName(Out):
    identifier: str
    namespace: str
    name: str


ListTablesResponse = listing("ListTablesResponse", "tables", TableName, paged=False)


class SchemaField(Out):
    id: int
    name: str
    type: str
    required: bool
    doc: str


class TableSchema(Out):
    schema_id: int
    fields: list[SchemaField]


class PartitionField(Out):
    source_id: int
    field_id: int
    name: str
    transform: str


class Snapshot(Out):
    snapshot_id: str
    parent_id: str
    sequence_number: int | None
    committed_at: Time = TIME
    operation: str
    summary: dict[str, Any]
    schema_id: int | None


class HistoryEntry(Out):
    made_current_at: Time = TIME
    snapshot_id: str
    is_current_ancestor: bool


class Table(Out):
    identifier: str
    namespace: str
    name: str
    location: str
    table_uuid: str
    format_version: int
    last_updated_at: Time = TIME
    current_snapshot_id: str
    # "schema" would shadow BaseModel.schema; the alias keeps the JSON key.
    table_schema: TableSchema = Field(alias="schema", serialization_alias="schema")
    partition_spec: list[PartitionField]
    properties: dict[str, str]
    snapshots: list[Snapshot]
    history: list[HistoryEntry]


class ListSnapshotsResponse(Out):
    snapshots: list[Snapshot]
    current_snapshot_id: str


ListHistoryResponse = listing("ListHistoryResponse", "history", HistoryEntry, paged=False)


class RowColumn(Out):
    name: str
    type: str


class TableRows(Out):
    columns: list[RowColumn]
    rows: list[list[Any]]
    num_rows: int


class DataConnection(Out):
    name: str
    type: str
    scope: str = Field(description="site or project")
    project_id: str
    description: str
    options: dict[str, Any]
    has_secret: bool
    builtin: bool
    created_at: Time = TIME
    updated_at: Time = TIME


class DataConnectionCredentials(DataConnection):
    secret: str
    warning: str


ListDataConnectionsResponse = listing(
    "ListDataConnectionsResponse", "connections", DataConnection, paged=False
)


# Legacy experiment runs (Lakeworks; compat §3.4) ------------------------------------------


class LegacyExperimentRun(Out):
    id: str
    project_id: str
    status: str
    script: str
    arguments: str
    comment: str
    runtime_identifier: str
    engine_id: str
    cpu: Number
    memory: Number = Field(description="GiB.")
    nvidia_gpu: int
    created_at: Time = TIME
    starting_at: Time = TIME
    running_at: Time = TIME
    finished_at: Time = TIME
    duration_seconds: Number | None = None
    exit_code: int | None = None
    reason: str
    creator: ShortUser
    metrics: dict[str, Any] = Field(description="The last value of each tracked metric.")
    metric_history: list[dict[str, Any]] | None = Field(
        default=None, description="Every tracked value, in order (one run's answer only)."
    )


class ListLegacyExperimentRunsResponse(Out):
    legacy_experiments: list[LegacyExperimentRun]
    metric_keys: list[str]
    next_page_token: str = PAGE_TOKEN


class LegacyExperimentRunLog(TextLog):
    finished: bool
    status: str


class TrackedFile(Out):
    path: str
    size: int


ListTrackedFilesResponse = listing("ListTrackedFilesResponse", "files", TrackedFile, paged=False)

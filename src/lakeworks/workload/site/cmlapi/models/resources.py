"""Response objects (compat §6.7) and their list wrappers. ``Project``, ``Job``,
``Application`` and ``Model`` are also update bodies: send back a fetched object with a field
changed; ``None`` fields are left out and read-only ones are ignored by the server."""

from __future__ import annotations

from .base import ApiModel, fields

_LIST = dict(next_page_token="str")
_TIMES = dict(created_at="datetime", updated_at="datetime")


class ShortUser(ApiModel):
    swagger_types = fields(username="str", name="str", email="str", type="str")


class ProjectPermissions(ApiModel):
    swagger_types = fields(
        business_user="bool", read="bool", operator="bool", write="bool", admin="bool", owner="bool"
    )


class Project(ApiModel):
    """A project. ``environment`` is a JSON-encoded string (``"{}"`` when empty)."""

    swagger_types = fields(
        id="str",
        name="str",
        slug="str",
        owner="ShortUser",
        creator="ShortUser",
        description="str",
        visibility="str",
        default_engine_type="str",
        **_TIMES,
        creation_status="str",
        creation_message="str",
        git_url="str",
        permissions="ProjectPermissions",
        role="str",
        shared_memory_limit="int",
        environment="str",
        secret_environment_names="list[str]",
        ephemeral_storage_request="int",
        ephemeral_storage_limit="int",
    )


class ListProjectsResponse(ApiModel):
    swagger_types = fields(projects="list[Project]", **_LIST)


class ProjectCollaborator(ApiModel):
    swagger_types = fields(
        username="str",
        permission="str",
        role="str",
        type="str",
        user="ShortUser",
        created_at="datetime",
    )


class ListProjectCollaboratorsResponse(ApiModel):
    swagger_types = fields(collaborators="list[ProjectCollaborator]", **_LIST)


class FileInfo(ApiModel):
    swagger_types = fields(
        path="str", name="str", is_dir="bool", file_size="int", last_modified="datetime"
    )


class ListProjectFilesResponse(ApiModel):
    swagger_types = fields(files="list[FileInfo]")


class Runtime(ApiModel):
    swagger_types = fields(
        image_identifier="str",
        editor="str",
        kernel="str",
        edition="str",
        description="str",
        full_version="str",
        maintenance_version="int",
        short_version="str",
        status="str",
        register_user_id="int",
        python_version="str",
    )


class ListRuntimesResponse(ApiModel):
    swagger_types = fields(runtimes="list[Runtime]", **_LIST)


class RuntimeAddon(ApiModel):
    swagger_types = fields(
        id="int",
        identifier="str",
        component="str",
        display_name="str",
        status="str",
        manageable="bool",
        created_at="datetime",
        reason="str",
    )


class ListRuntimeAddonsResponse(ApiModel):
    swagger_types = fields(runtime_addons="list[RuntimeAddon]", **_LIST)


class JobRun(ApiModel):
    """One run of a job; ``status`` is an EngineStatus such as ``ENGINE_SUCCEEDED``."""

    swagger_types = fields(
        id="str",
        job_id="str",
        project_id="str",
        status="str",
        trigger="str",
        engine_id="str",
        created_at="datetime",
        scheduling_at="datetime",
        starting_at="datetime",
        running_at="datetime",
        finished_at="datetime",
        scheduled_for="datetime",
        duration_seconds="float",
        exit_code="int",
        reason="str",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        kernel="str",
        runtime_identifier="str",
        resource_group_id="str",
        arguments="str",
        environment="str",
        creator="ShortUser",
        parent_run_id="str",
    )


class ListJobRunsResponse(ApiModel):
    swagger_types = fields(job_runs="list[JobRun]", **_LIST)


class Job(ApiModel):
    """A job. ``parent_id`` is ``""`` without a parent; ``type`` is ``manual``, ``cron`` or
    ``dependent``; ``environment`` is a JSON-encoded string."""

    swagger_types = fields(
        id="str",
        project_id="str",
        name="str",
        script="str",
        arguments="str",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        kernel="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        engine_image_id="str",
        environment="str",
        parent_id="str",
        type="str",
        schedule="str",
        english_schedule="str",
        timezone="str",
        paused="bool",
        timeout="int",
        kill_on_timeout="bool",
        recipients="list[JobRecipient]",
        creator="ShortUser",
        owner="ShortUser",
        project="object",
        next_fire_at="datetime",
        **_TIMES,
        latest="JobRun",
    )


class ListJobsResponse(ApiModel):
    swagger_types = fields(jobs="list[Job]", **_LIST)


class Application(ApiModel):
    """An application; ``status`` is ``APPLICATION_RUNNING``, ``APPLICATION_STOPPED``, ..."""

    swagger_types = fields(
        id="str",
        project_id="str",
        name="str",
        description="str",
        creator="ShortUser",
        script="str",
        subdomain="str",
        status="str",
        status_message="str",
        **_TIMES,
        starting_at="datetime",
        running_at="datetime",
        stopped_at="datetime",
        kernel="str",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        bypass_authentication="bool",
        environment="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        run_as="int",
        cdv_app="bool",
        resource_group_id="str",
        resource_profile_id="str",
        accelerator_label_id="str",
        engine_id="str",
        url="str",
        path_url="str",
        restarts="int",
    )


class ListApplicationsResponse(ApiModel):
    swagger_types = fields(applications="list[Application]", **_LIST)


class ModelResources(ApiModel):
    swagger_types = fields(cpu_millicores="int", memory_mb="int", nvidia_gpus="int")


class ReplicationPolicy(ApiModel):
    swagger_types = fields(type="str", num_replicas="int")


class Model(ApiModel):
    """A model endpoint (exported as ``cmlapi.Model``); ``access_key`` calls it."""

    swagger_types = fields(
        id="str",
        name="str",
        description="str",
        creator="ShortUser",
        crn="str",
        access_key="str",
        auth_enabled="bool",
        deletion_status="str",
        project="object",
        project_id="str",
        registered_model_id="str",
        visibility="str",
        default_resources="ModelResources",
        default_replication_policy="ReplicationPolicy",
        run_as="int",
        **_TIMES,
    )


class ListModelsResponse(ApiModel):
    swagger_types = fields(models="list[Model]", **_LIST)


class ModelBuild(ApiModel):
    """A model build; callers poll ``status`` until ``built``."""

    swagger_types = fields(
        id="str",
        model_id="str",
        project_id="str",
        crn="str",
        creator="ShortUser",
        comment="str",
        file_path="str",
        function_name="str",
        engine_image="str",
        kernel="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        registered_model_version_id="str",
        model_root_dir="str",
        build_script_path="str",
        status="str",
        failure_reason="str",
        built_at="datetime",
        deletion_status="str",
        examples="object",
        **_TIMES,
    )


class ListModelBuildsResponse(ApiModel):
    swagger_types = fields(model_builds="list[ModelBuild]", **_LIST)


class ModelDeployment(ApiModel):
    """A deployment of a build; callers poll ``status`` until ``deployed``."""

    swagger_types = fields(
        id="str",
        crn="str",
        project_id="str",
        model_id="str",
        build_id="str",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        replicas="int",
        environment="str",
        status="str",
        failure_reason="str",
        deployer="ShortUser",
        timeout="int",
        **_TIMES,
        stopped_at="datetime",
    )


class ListModelDeploymentsResponse(ApiModel):
    swagger_types = fields(model_deployments="list[ModelDeployment]", **_LIST)


class MLflowMetadata(ApiModel):
    swagger_types = fields(
        experiment_id="str",
        run_id="str",
        source="str",
        metrics="list[object]",
        params="list[object]",
        tags="list[object]",
    )


class ModelVersionMetadata(ApiModel):
    swagger_types = fields(
        mlops_type="str",
        workspace_url="str",
        project_id="str",
        owner="str",
        mlflow_metadata="MLflowMetadata",
    )


class RegisteredModelVersion(ApiModel):
    swagger_types = fields(
        model_version_id="str",
        version_name="str",
        number="int",
        notes="str",
        user="ShortUser",
        status="str",
        tags="list[RegisteredModelTag]",
        error_message="str",
        created_at="datetime",
        model_version_metadata="ModelVersionMetadata",
    )


class RegisteredModel(ApiModel):
    """A registered model; ``model_versions[0]`` of a create is the version just made."""

    swagger_types = fields(
        model_id="str",
        name="str",
        description="str",
        owner="ShortUser",
        permission="str",
        visibility="str",
        project_id="str",
        **_TIMES,
        model_versions="list[RegisteredModelVersion]",
    )


class ListRegisteredModelsResponse(ApiModel):
    swagger_types = fields(models="list[RegisteredModel]", **_LIST)


class Experiment(ApiModel):
    swagger_types = fields(
        id="str",
        project_id="str",
        name="str",
        artifact_location="str",
        lifecycle_stage="str",
        **_TIMES,
        tags="list[ExperimentRunTag]",
        user="ShortUser",
    )


class ListExperimentsResponse(ApiModel):
    swagger_types = fields(experiments="list[Experiment]", **_LIST)


class ExperimentRunData(ApiModel):
    swagger_types = fields(
        metrics="list[ExperimentRunMetric]",
        params="list[ExperimentRunParam]",
        tags="list[ExperimentRunTag]",
        files="list[object]",
        registered_model_metadata="list[object]",
    )


class ExperimentRun(ApiModel):
    """An MLflow run; ``start_time``/``end_time`` in milliseconds."""

    swagger_types = fields(
        id="str",
        name="str",
        experiment_id="str",
        user="ShortUser",
        status="str",
        lifecycle_stage="str",
        start_time="int",
        end_time="int",
        artifact_uri="str",
        data="ExperimentRunData",
        inputs="object",
    )


class ListExperimentRunsResponse(ApiModel):
    swagger_types = fields(experiment_runs="list[ExperimentRun]", **_LIST)


class GetExperimentRunMetricsResponse(ApiModel):
    swagger_types = fields(metrics="list[ExperimentRunMetric]", **_LIST)


class ApiKey(ApiModel):
    swagger_types = fields(
        key_id="str",
        name="str",
        prefix="str",
        kind="str",
        key="str",
        created_at="datetime",
        expiry="datetime",
        revoked_at="datetime",
        last_used_at="datetime",
    )


class CreateV2KeyResponse(ApiModel):
    """``key`` is the secret, shown only in this answer."""

    swagger_types = fields(api_key="ApiKey", key="str")


class ListV2KeysResponse(ApiModel):
    swagger_types = fields(api_keys="list[ApiKey]")

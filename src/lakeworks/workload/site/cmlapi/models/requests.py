"""Request bodies (compat §6.6). Every field is optional on the client: the server says
what is missing. A plain ``dict`` is accepted wherever one of these is."""

from __future__ import annotations

from .base import ApiModel, fields

_RESOURCE_IDS = dict(accelerator_label_id="str", resource_group_id="str", resource_profile_id="str")


class JobRecipient(ApiModel):
    """Who a job notifies, and when."""

    swagger_types = fields(
        email="str",
        notify_on_success="bool",
        notify_on_failure="bool",
        notify_on_timeout="bool",
        notify_on_stop="bool",
    )


class CreateProjectRequest(ApiModel):
    """Body of ``create_project``: a blank project, a template (``Python``, ...) or a git
    repository (``template="git"``, ``git_url``)."""

    swagger_types = fields(
        name="str",
        description="str",
        template="str",
        git_url="str",
        git_ref="str",
        default_project_engine_type="str",
        visibility="str",
        parent_project="str",
        organization_permission="str",
        team_name="str",
        environment="dict(str, str)",
        shared_memory_limit="int",
    )


class CreateJobRequest(ApiModel):
    """Body of ``create_job``. ``memory`` is in GB; ``schedule`` is a cron expression."""

    swagger_types = fields(
        project_id="str",
        name="str",
        script="str",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        parent_job_id="str",
        parent_id="str",
        environment="dict(str, str)",
        arguments="str",
        timeout="int",
        kill_on_timeout="bool",
        schedule="str",
        timezone="str",
        paused="bool",
        recipients="list[JobRecipient]",
        success_recipients="list[JobRecipient]",
        failure_recipients="list[JobRecipient]",
        timeout_recipients="list[JobRecipient]",
        stopped_recipients="list[JobRecipient]",
        attachments="list[str]",
        kernel="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        run_as="int",
        retry_enabled="bool",
        max_retry="int",
        retry_delay="int",
        retry_for_script_failure="bool",
        retry_for_system_failure="bool",
        retry_for_timedout_runs="bool",
        retry_for_skipped_runs="bool",
        **_RESOURCE_IDS,
    )


class CreateJobRunRequest(ApiModel):
    """Body of ``create_job_run``; positional order ``(project_id, job_id, ...)``.
    ``environment`` is merged over the job's, ``arguments`` replaces the job's."""

    swagger_types = fields(
        project_id="str", job_id="str", environment="dict(str, str)", arguments="str"
    )


class CreateApplicationRequest(ApiModel):
    """Body of ``create_application`` (creating also starts the application)."""

    swagger_types = fields(
        project_id="str",
        name="str",
        description="str",
        subdomain="str",
        script="str",
        kernel="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        cpu="float",
        memory="float",
        nvidia_gpu="int",
        environment="dict(str, str)",
        bypass_authentication="bool",
        run_as="int",
        cdv_app="bool",
        **_RESOURCE_IDS,
    )


class CreateModelRequest(ApiModel):
    """Body of ``create_model``."""

    swagger_types = fields(
        project_id="str",
        name="str",
        description="str",
        disable_authentication="bool",
        registered_model_id="str",
        run_as="int",
        visibility="str",
        auto_build_model="bool",
        auto_build_config="object",
        auto_deploy_model="bool",
        auto_deployment_config="object",
        **_RESOURCE_IDS,
    )


class CreateModelBuildRequest(ApiModel):
    """Body of ``create_model_build``: a file and function, or a registered model version."""

    swagger_types = fields(
        project_id="str",
        model_id="str",
        comment="str",
        file_path="str",
        function_name="str",
        kernel="str",
        runtime_identifier="str",
        runtime_addon_identifiers="list[str]",
        registered_model_version_id="str",
        model_root_dir="str",
        build_script_path="str",
        auto_deploy_model="bool",
        auto_deployment_config="object",
        **_RESOURCE_IDS,
    )


class CreateModelDeploymentRequest(ApiModel):
    """Body of ``create_model_deployment``; ``memory`` in GB."""

    swagger_types = fields(
        project_id="str",
        model_id="str",
        build_id="str",
        cpu="float",
        memory="float",
        nvidia_gpus="int",
        replicas="int",
        environment="dict(str, str)",
        deployment_secrets="object",
        **_RESOURCE_IDS,
    )


class CreateRegisteredModelRequest(ApiModel):
    """Body of ``create_registered_model``; an existing ``model_name`` adds a version."""

    swagger_types = fields(
        project_id="str",
        experiment_id="str",
        run_id="str",
        model_name="str",
        model_path="str",
        tags="list[RegisteredModelTag]",
        description="str",
        notes="str",
        visibility="str",
    )


class RegisteredModelTag(ApiModel):
    swagger_types = fields(key="str", value="str")


class CreateExperimentRequest(ApiModel):
    """Body of ``create_experiment``."""

    swagger_types = fields(project_id="str", name="str", artifact_location="str")


class UpdateExperimentRequest(ApiModel):
    """Body of ``update_experiment`` (rename)."""

    swagger_types = fields(project_id="str", experiment_id="str", name="str")


class CreateExperimentRunRequest(ApiModel):
    """Body of ``create_experiment_run``."""

    swagger_types = fields(
        project_id="str",
        experiment_id="str",
        name="str",
        start_time="int",
        tags="list[ExperimentRunTag]",
    )


class UpdateExperimentRunRequest(ApiModel):
    """Body of ``update_experiment_run``: a new name, or ``status`` (``FINISHED``, ``FAILED``,
    ``KILLED``, ...) with ``end_time`` in milliseconds."""

    swagger_types = fields(
        project_id="str",
        experiment_id="str",
        run_id="str",
        name="str",
        status="str",
        end_time="int",
    )


class DeleteExperimentRunBatchRequest(ApiModel):
    """Body of ``delete_experiment_run_batch``."""

    swagger_types = fields(project_id="str", experiment_id="str", run_ids="list[str]")


class UpdateRegisteredModelRequest(ApiModel):
    """Body of ``update_registered_model`` (the description; the name is fixed)."""

    swagger_types = fields(model_id="str", description="str", visibility="str")


class ExperimentRunParam(ApiModel):
    swagger_types = fields(key="str", value="str")


class ExperimentRunTag(ApiModel):
    swagger_types = fields(key="str", value="str")


class ExperimentRunMetric(ApiModel):
    swagger_types = fields(key="str", value="float", timestamp="int", step="int")


class LogExperimentRunBatchRequest(ApiModel):
    """Body of ``log_experiment_run_batch``: metrics, params and tags of one run."""

    swagger_types = fields(
        project_id="str",
        experiment_id="str",
        run_id="str",
        metrics="list[ExperimentRunMetric]",
        params="list[ExperimentRunParam]",
        tags="list[ExperimentRunTag]",
    )


class AddProjectCollaboratorRequest(ApiModel):
    """Body of ``add_project_collaborator``: ``read``, ``operator``, ``write`` or ``admin``."""

    swagger_types = fields(permission="str")


class CreateV2KeyRequest(ApiModel):
    """Body of ``create_v2_key``; ``expiry`` is an RFC 3339 time or empty for none."""

    swagger_types = fields(name="str", expiry="str")


class UpdateProjectFileMetadataRequest(ApiModel):
    """Body of ``update_project_file_metadata``: the new path (a move or rename)."""

    swagger_types = fields(path="str")

"""The operations of API v2 that ``CMLServiceApi`` offers, one row each.

A row names the method (the upstream swagger operation id), the HTTP method and path (path
ids in braces, in the order the method takes them after the body), the body's model class
(``None``: no body), the response class and the query parameters.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Operation(NamedTuple):
    name: str
    method: str
    path: str
    body: str | None
    response: str | None
    query: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # path ids that may be left out ("" then)

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


LIST = ("search_filter", "sort", "page_size", "page_token")
_P = "/api/v2/projects/{project_id}"
_JOB = _P + "/jobs/{job_id}"
_APP = _P + "/applications/{application_id}"
_MODEL = _P + "/models/{model_id}"
_BUILD = _MODEL + "/builds/{build_id}"
_DEPLOYMENT = _BUILD + "/deployments/{deployment_id}"
_EXPERIMENT = _P + "/experiments/{experiment_id}"
_RUN = _EXPERIMENT + "/runs/{run_id}"
_REGISTRY = "/api/v2/registry/models"
_KEYS = "/api/v2/users/{username}/v2_keys"

OPERATIONS: tuple[Operation, ...] = (
    # Projects and collaborators
    Operation(
        "list_projects",
        "GET",
        "/api/v2/projects",
        None,
        "ListProjectsResponse",
        (*LIST, "include_public_projects", "include_all_projects"),
    ),
    Operation("create_project", "POST", "/api/v2/projects", "CreateProjectRequest", "Project"),
    Operation("get_project", "GET", _P, None, "Project"),
    Operation("update_project", "PATCH", _P, "Project", "Project"),
    Operation("delete_project", "DELETE", _P, None, None),
    Operation(
        "list_project_collaborators",
        "GET",
        _P + "/collaborators",
        None,
        "ListProjectCollaboratorsResponse",
        LIST,
    ),
    Operation(
        "add_project_collaborator",
        "PUT",
        _P + "/collaborators/{username}",
        "AddProjectCollaboratorRequest",
        "ProjectCollaborator",
    ),
    Operation(
        "delete_project_collaborator", "DELETE", _P + "/collaborators/{username}", None, None
    ),
    # Runtimes
    Operation("list_runtimes", "GET", "/api/v2/runtimes", None, "ListRuntimesResponse", LIST),
    Operation(
        "list_runtime_addons",
        "GET",
        "/api/v2/runtimeaddons",
        None,
        "ListRuntimeAddonsResponse",
        LIST,
    ),
    # Jobs and job runs
    Operation("list_all_jobs", "GET", "/api/v2/jobs", None, "ListJobsResponse", LIST),
    Operation("list_jobs", "GET", _P + "/jobs", None, "ListJobsResponse", LIST),
    Operation("create_job", "POST", _P + "/jobs", "CreateJobRequest", "Job"),
    Operation("get_job", "GET", _JOB, None, "Job"),
    Operation("update_job", "PATCH", _JOB, "Job", "Job"),
    Operation("delete_job", "DELETE", _JOB, None, None),
    Operation("list_job_runs", "GET", _JOB + "/runs", None, "ListJobRunsResponse", LIST),
    Operation("create_job_run", "POST", _JOB + "/runs", "CreateJobRunRequest", "JobRun"),
    Operation("get_job_run", "GET", _JOB + "/runs/{run_id}", None, "JobRun"),
    Operation("stop_job_run", "POST", _JOB + "/runs/{run_id}:stop", None, "JobRun"),
    # Applications
    Operation(
        "list_applications", "GET", _P + "/applications", None, "ListApplicationsResponse", LIST
    ),
    Operation(
        "create_application",
        "POST",
        _P + "/applications",
        "CreateApplicationRequest",
        "Application",
    ),
    Operation("get_application", "GET", _APP, None, "Application"),
    Operation("update_application", "PATCH", _APP, "Application", "Application"),
    Operation("delete_application", "DELETE", _APP, None, None),
    Operation("restart_application", "POST", _APP + ":restart", None, "Application"),
    Operation("stop_application", "POST", _APP + ":stop", None, "Application"),
    # Models, builds and deployments
    Operation("list_all_models", "GET", "/api/v2/models", None, "ListModelsResponse", LIST),
    Operation("list_models", "GET", _P + "/models", None, "ListModelsResponse", LIST),
    Operation("create_model", "POST", _P + "/models", "CreateModelRequest", "Model"),
    Operation("get_model", "GET", _MODEL, None, "Model"),
    Operation("update_model", "PATCH", _MODEL, "Model", "Model"),
    Operation("delete_model", "DELETE", _MODEL, None, None),
    Operation(
        "list_model_builds", "GET", _MODEL + "/builds", None, "ListModelBuildsResponse", LIST
    ),
    Operation(
        "create_model_build", "POST", _MODEL + "/builds", "CreateModelBuildRequest", "ModelBuild"
    ),
    Operation("get_model_build", "GET", _BUILD, None, "ModelBuild"),
    Operation(
        "list_model_deployments",
        "GET",
        _BUILD + "/deployments",
        None,
        "ListModelDeploymentsResponse",
        LIST,
    ),
    Operation(
        "create_model_deployment",
        "POST",
        _BUILD + "/deployments",
        "CreateModelDeploymentRequest",
        "ModelDeployment",
    ),
    Operation("get_model_deployment", "GET", _DEPLOYMENT, None, "ModelDeployment"),
    Operation("stop_model_deployment", "POST", _DEPLOYMENT + ":stop", None, "ModelDeployment"),
    Operation(
        "restart_model_deployment", "POST", _DEPLOYMENT + ":restart", None, "ModelDeployment"
    ),
    # Model registry
    Operation(
        "create_registered_model",
        "POST",
        _REGISTRY,
        "CreateRegisteredModelRequest",
        "RegisteredModel",
    ),
    Operation(
        "list_registered_models", "GET", _REGISTRY, None, "ListRegisteredModelsResponse", LIST
    ),
    Operation("get_registered_model", "GET", _REGISTRY + "/{model_id}", None, "RegisteredModel"),
    Operation("delete_registered_model", "DELETE", _REGISTRY + "/{model_id}", None, None),
    Operation(
        "update_registered_model",
        "PATCH",
        _REGISTRY + "/{model_id}",
        "UpdateRegisteredModelRequest",
        "RegisteredModel",
    ),
    Operation(
        "delete_registered_model_version",
        "DELETE",
        _REGISTRY + "/{model_id}/versions/{model_version_id}",
        None,
        None,
    ),
    Operation(
        "get_registered_model_version",
        "GET",
        _REGISTRY + "/{model_id}/versions/{model_version_id}",
        None,
        "RegisteredModelVersion",
    ),
    # Experiments (MLflow)
    Operation(
        "list_all_experiments", "GET", "/api/v2/experiments", None, "ListExperimentsResponse", LIST
    ),
    Operation(
        "list_experiments", "GET", _P + "/experiments", None, "ListExperimentsResponse", LIST
    ),
    Operation(
        "create_experiment", "POST", _P + "/experiments", "CreateExperimentRequest", "Experiment"
    ),
    Operation("get_experiment", "GET", _EXPERIMENT, None, "Experiment"),
    Operation("update_experiment", "PATCH", _EXPERIMENT, "UpdateExperimentRequest", "Experiment"),
    Operation("delete_experiment", "DELETE", _EXPERIMENT, None, None),
    Operation(
        "list_experiment_runs",
        "GET",
        _EXPERIMENT + "/runs",
        None,
        "ListExperimentRunsResponse",
        LIST,
    ),
    Operation(
        "create_experiment_run",
        "POST",
        _EXPERIMENT + "/runs",
        "CreateExperimentRunRequest",
        "ExperimentRun",
    ),
    Operation("get_experiment_run", "GET", _RUN, None, "ExperimentRun"),
    Operation(
        "update_experiment_run", "PATCH", _RUN, "UpdateExperimentRunRequest", "ExperimentRun"
    ),
    Operation("delete_experiment_run", "DELETE", _RUN, None, None),
    Operation(
        "delete_experiment_run_batch",
        "POST",
        _EXPERIMENT + "/runs:deletebatch",
        "DeleteExperimentRunBatchRequest",
        None,
    ),
    Operation(
        "log_experiment_run_batch",
        "POST",
        _RUN + ":logbatch",
        "LogExperimentRunBatchRequest",
        "object",
    ),
    Operation(
        "get_experiment_run_metrics",
        "GET",
        _RUN + "/metrics/{metric_key}",
        None,
        "GetExperimentRunMetricsResponse",
    ),
    # Project files (upload_file is a method of its own: a multipart body)
    Operation(
        "list_project_files",
        "GET",
        _P + "/files/{path}",
        None,
        "ListProjectFilesResponse",
        optional=("path",),
    ),
    Operation("download_project_file", "POST", _P + "/files/{path}:download", None, "bytes"),
    Operation(
        "update_project_file_metadata",
        "PATCH",
        _P + "/files/{path}",
        "UpdateProjectFileMetadataRequest",
        "FileInfo",
    ),
    Operation("delete_project_file", "DELETE", _P + "/files/{path}", None, None),
    # API keys
    Operation("list_v2_keys", "GET", _KEYS, None, "ListV2KeysResponse"),
    Operation("create_v2_key", "POST", _KEYS, "CreateV2KeyRequest", "CreateV2KeyResponse"),
    Operation("delete_v2_key", "DELETE", _KEYS + "/{key_id}", None, None),
    Operation("delete_v2_keys", "DELETE", _KEYS, None, None),
)

"""The ``cmlapi`` package on its own: every operation of compat §6.5 exists and names a route
of the server's OpenAPI document; model classes (constructors, ``to_dict``, ``==``) and the
lenient reading of answers (int64 strings, unknown fields, RFC 3339 times)."""

from __future__ import annotations

import ast
import datetime
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI

from lakeworks.sdk import package_dir, sdist

# Every call named in compat §6.5, as projects write them.
SPEC_CALLS = [
    "list_projects",
    "get_project",
    "create_project",
    "update_project",
    "delete_project",
    "list_runtimes",
    "list_runtime_addons",
    "create_job",
    "list_jobs",
    "create_job_run",
    "list_job_runs",
    "get_job_run",
    "get_job",
    "update_job",
    "delete_job",
    "stop_job_run",
    "create_application",
    "list_applications",
    "restart_application",
    "get_application",
    "update_application",
    "stop_application",
    "delete_application",
    "create_model",
    "list_models",
    "create_model_build",
    "list_model_builds",
    "get_model_build",
    "create_model_deployment",
    "list_model_deployments",
    "get_model_deployment",
    "get_model",
    "stop_model_deployment",
    "restart_model_deployment",
    "delete_model",
    "update_model",
    "create_registered_model",
    "list_registered_models",
    "get_registered_model",
    "list_experiments",
    "list_all_experiments",
    "list_experiment_runs",
    "get_experiment",
    "get_experiment_run",
    "create_experiment",
    "create_experiment_run",
    "log_experiment_run_batch",
    "upload_file",
    "list_project_files",
    "download_project_file",
    "delete_project_file",
    "list_all_models",
    "list_all_jobs",
    "list_project_collaborators",
    "add_project_collaborator",
    "delete_project_collaborator",
    "list_v2_keys",
    "create_v2_key",
    "delete_v2_key",
    # §7 verbs beyond §6.5
    "update_experiment_run",
    "delete_experiment_run_batch",
    "update_registered_model",
    "delete_registered_model_version",
    "get_registered_model_version",
]


def test_every_call_of_the_spec_exists_with_its_http_info_variant(cmlapi: ModuleType) -> None:
    api = cmlapi.CMLServiceApi(cmlapi.ApiClient())
    for name in SPEC_CALLS:
        assert callable(getattr(api, name, None)), name
        if name != "upload_file":
            assert callable(getattr(api, name + "_with_http_info", None)), name
            assert getattr(api, name).__doc__.startswith(("GET", "POST", "PATCH", "PUT", "DELETE"))


def test_every_operation_names_a_route_of_the_server(cmlapi: ModuleType, app: FastAPI) -> None:
    from cmlapi.api.operations import OPERATIONS

    routes = []
    for path, methods in app.openapi()["paths"].items():
        pattern = re.sub(r"\{path\}", ".+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
        pattern = re.sub(r"\{\w+\}", "[^/]+", pattern)
        routes += [(method.upper(), re.compile(pattern + "$")) for method in methods]
    for op in OPERATIONS:
        sample = op.path
        for name in op.path_params:
            sample = sample.replace("{" + name + "}", "data/x.csv" if name == "path" else "id1")
        matching = [m for m, pattern in routes if pattern.match(sample)]
        assert op.method in matching, (op.name, op.method, sample, matching)
        assert (
            op.response is None
            or op.response in ("object", "bytes")
            or (op.response in cmlapi.MODELS)
        ), op
        assert op.body is None or op.body in cmlapi.MODELS, op


def test_the_package_is_python_3_9_and_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names)
    backend = Path(sdist.__file__).with_name("build_backend.py")  # shipped in the sdist
    for source in [*package_dir().rglob("*.py"), backend]:
        # Runtimes start at Python 3.9: no newer syntax either.
        tree = ast.parse(source.read_text(), feature_version=(3, 9))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, (source, name)


def test_models_take_keywords_or_fields_in_order_and_compare_by_value(
    cmlapi: ModuleType,
) -> None:
    run = cmlapi.CreateJobRunRequest("p1", "j1", arguments="--x")
    assert run.to_dict() == {
        "project_id": "p1",
        "job_id": "j1",
        "environment": None,
        "arguments": "--x",
    }
    assert run == cmlapi.CreateJobRunRequest(project_id="p1", job_id="j1", arguments="--x")
    assert run != cmlapi.CreateJobRunRequest(project_id="p1", job_id="j2")
    assert "'job_id': 'j1'" in run.to_str() and repr(run) == run.to_str()
    with pytest.raises(TypeError, match="unexpected keyword argument 'jobid'"):
        cmlapi.CreateJobRunRequest(jobid="j1")
    with pytest.raises(TypeError, match="multiple values"):
        cmlapi.CreateJobRunRequest("p1", project_id="p2")
    nested = cmlapi.CreateJobRequest(
        name="n", recipients=[cmlapi.JobRecipient(email="a@example.org", notify_on_failure=True)]
    )
    assert nested.to_dict()["recipients"][0]["email"] == "a@example.org"


def test_answers_are_read_leniently(cmlapi: ModuleType) -> None:
    client = cmlapi.ApiClient()
    job = client.deserialize_data(
        {
            "id": "abcd-0000-0000-0001",
            "timeout": "0",  # int64 as a string (proto3 JSON)
            "cpu": 2,
            "paused": "false",
            "created_at": "2024-05-01T10:20:30.123Z",
            "updated_at": "",
            "creator": {"username": "alice", "future_field": 1},
            "latest": None,
            "a_field_from_a_newer_server": {"x": 1},
        },
        "Job",
    )
    assert isinstance(job, cmlapi.Job)
    assert job.timeout == 0 and job.cpu == 2.0 and job.paused is False
    assert job.created_at == datetime.datetime(2024, 5, 1, 10, 20, 30, 123000, tzinfo=datetime.UTC)
    assert job.updated_at is None and job.latest is None
    assert job.creator.username == "alice"
    assert "a_field_from_a_newer_server" not in job.to_dict()
    # Sent back (as in update_job), times become RFC 3339 text and None fields are left out.
    sent = client.sanitize_for_serialization(job)
    assert sent["created_at"] == "2024-05-01T10:20:30.123000+00:00"
    assert "updated_at" not in sent and sent["creator"] == {"username": "alice"}


def test_configuration_host_takes_a_base_url_or_an_api_url(cmlapi: ModuleType) -> None:
    config = cmlapi.Configuration()
    for given in (
        "https://ml.example.org",
        "https://ml.example.org/",
        "https://ml.example.org/api/v2",
    ):
        config.host = given
        assert config.host == "https://ml.example.org"
    config.api_key["authorization"] = "secret"
    config.api_key_prefix["Authorization"] = "Bearer"
    assert config.auth_settings()["Bearer"]["value"] == "Bearer secret"


def test_model_classes_import_from_their_generated_module_names(cmlapi: ModuleType) -> None:
    from cmlapi.models.create_job_run_request import CreateJobRunRequest
    from cmlapi.models.list_model_deployments_response import ListModelDeploymentsResponse

    assert CreateJobRunRequest is cmlapi.CreateJobRunRequest
    assert ListModelDeploymentsResponse is cmlapi.models.ListModelDeploymentsResponse

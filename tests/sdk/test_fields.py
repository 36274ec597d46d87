"""The client's model classes declare every field the server sends (answers are read
leniently, so a field missing from a class would silently vanish from ``to_dict()``): raw
answers of a live server, walked against each class's ``swagger_types``."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

from lakeworks.entities.users import User

MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.pyfunc\n"


def _undeclared(cmlapi: ModuleType, data: Any, kind: str, where: str) -> list[str]:
    inner = re.match(r"^list\[(.+)\]$", kind)
    if inner:
        return [
            miss
            for i, item in enumerate(data or [])
            for miss in _undeclared(cmlapi, item, inner.group(1), f"{where}[{i}]")
        ]
    model = cmlapi.MODELS.get(kind)
    if model is None or not isinstance(data, dict):
        return []
    missing = [f"{where}.{key} ({kind})" for key in data if key not in model.swagger_types]
    for key, value in data.items():
        if key in model.swagger_types:
            missing += _undeclared(cmlapi, value, model.swagger_types[key], f"{where}.{key}")
    return missing


def test_every_field_of_every_answer_is_declared(
    cmlapi: ModuleType, alice_api: Any, bob: User
) -> None:
    api = alice_api
    pid = api.create_project({"name": "Fields"}).id
    api.upload_file(pid, {"train.py": "print(1)\n", "predict.py": "def f(a):\n    return a\n"})
    api.add_project_collaborator({"permission": "read"}, pid, "bob")
    job = api.create_job(
        {"name": "t", "script": "train.py", "recipients": [{"email": "a@example.org"}]}, pid
    )
    run = api.create_job_run({}, pid, job.id)
    model = api.create_model({"name": "m"}, pid)
    build = api.create_model_build({"file_path": "predict.py", "function_name": "f"}, pid, model.id)
    experiment = api.create_experiment({"name": "e"}, pid)
    exp_run = api.create_experiment_run({"tags": [{"key": "k", "value": "v"}]}, pid, experiment.id)
    api.log_experiment_run_batch(
        {"metrics": [{"key": "auc", "value": 0.5}], "params": [{"key": "a", "value": "1"}]},
        pid,
        experiment.id,
        exp_run.id,
    )
    api.upload_file(
        pid, {f".experiments/{experiment.id}/{exp_run.id}/artifacts/m/MLmodel": MLMODEL}
    )
    registered = api.create_registered_model(
        {
            "project_id": pid,
            "experiment_id": experiment.id,
            "run_id": exp_run.id,
            "model_name": "reg",
            "model_path": "m",
        }
    )
    key = api.create_v2_key({"name": "k"}, "alice")

    answers = {
        "ListProjectsResponse": api.list_projects_with_http_info,
        "Project": lambda **kw: api.get_project_with_http_info(pid, **kw),
        "ListProjectCollaboratorsResponse": lambda **kw: (
            api.list_project_collaborators_with_http_info(pid, **kw)
        ),
        "ListProjectFilesResponse": lambda **kw: api.list_project_files_with_http_info(pid, **kw),
        "ListRuntimesResponse": api.list_runtimes_with_http_info,
        "ListRuntimeAddonsResponse": api.list_runtime_addons_with_http_info,
        "ListJobsResponse": lambda **kw: api.list_jobs_with_http_info(pid, **kw),
        "ListJobRunsResponse": lambda **kw: api.list_job_runs_with_http_info(pid, job.id, **kw),
        "JobRun": lambda **kw: api.get_job_run_with_http_info(pid, job.id, run.id, **kw),
        "ListModelsResponse": lambda **kw: api.list_models_with_http_info(pid, **kw),
        "ListModelBuildsResponse": lambda **kw: (
            api.list_model_builds_with_http_info(pid, model.id, **kw)
        ),
        "ModelBuild": lambda **kw: api.get_model_build_with_http_info(
            pid, model.id, build.id, **kw
        ),
        "ListExperimentsResponse": lambda **kw: api.list_experiments_with_http_info(pid, **kw),
        "ListExperimentRunsResponse": lambda **kw: (
            api.list_experiment_runs_with_http_info(pid, experiment.id, **kw)
        ),
        "GetExperimentRunMetricsResponse": lambda **kw: (
            api.get_experiment_run_metrics_with_http_info(
                pid, experiment.id, exp_run.id, "auc", **kw
            )
        ),
        "ListRegisteredModelsResponse": api.list_registered_models_with_http_info,
        "RegisteredModel": lambda **kw: (
            api.get_registered_model_with_http_info(registered.model_id, **kw)
        ),
        "ListV2KeysResponse": lambda **kw: api.list_v2_keys_with_http_info("alice", **kw),
    }
    missing: list[str] = []
    for kind, call in answers.items():
        raw = call(_preload_content=False)[0]
        data = json.loads(raw.data)
        assert data, kind
        missing += _undeclared(cmlapi, data, kind, kind)
    assert key.api_key.key_id and run.id and registered.model_id
    assert missing == [], "\n".join(missing)

"""``cmlapi`` from outside: models, builds and deployments (a real build and a real replica),
experiments and runs (MLflow), and the model registry, on a live server."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

PREDICT = "def predict(args):\n    return {'doubled': args['x'] * 2}\n"


def test_a_model_is_built_deployed_stopped_restarted_and_deleted(
    cmlapi: ModuleType, alice_api: Any, tick_until: Callable[..., Any]
) -> None:
    pid = alice_api.create_project({"name": "Serving"}).id
    alice_api.upload_file(pid, {"predict.py": PREDICT})
    model = alice_api.create_model(
        cmlapi.CreateModelRequest(
            project_id=pid, name="doubler", description="x2", disable_authentication=False
        ),
        pid,
    )
    assert isinstance(model, cmlapi.Model)
    assert len(model.access_key) == 32 and model.crn.endswith(model.id)
    assert model.default_replication_policy.num_replicas == 1
    listed = alice_api.list_models(pid)
    assert [(m.name, m.id, m.access_key) for m in listed.models] == [
        ("doubler", model.id, model.access_key)
    ]
    assert model.id in [m.id for m in alice_api.list_all_models(page_size=100).models]
    assert alice_api.update_model({"description": "doubles"}, pid, model.id).description == (
        "doubles"
    )
    whole = alice_api.get_model(pid, model.id)
    assert whole.description == "doubles"
    whole.description = "doubles numbers"  # the whole fetched model, one field changed
    assert alice_api.update_model(whole, pid, model.id).access_key == model.access_key
    assert alice_api.get_model(pid, model.id).description == "doubles numbers"

    # Unknown keys (cpu, memory, replicas) in a build request are ignored (compat §6.3).
    build = alice_api.create_model_build(
        {
            "file_path": "predict.py",
            "function_name": "predict",
            "kernel": "python3",
            "cpu": "1",
            "memory": "2",
            "replicas": 1,
            "comment": "first",
        },
        pid,
        model.id,
    )
    assert isinstance(build, cmlapi.ModelBuild) and build.comment == "first"

    def built() -> Any:
        current = alice_api.get_model_build(pid, model.id, build.id)
        return current if current.status in ("built", "build failed") else None

    assert tick_until(built, "the build").status == "built"
    assert alice_api.list_model_builds(pid, model.id).to_dict()["model_builds"][-1]["id"] == (
        build.id
    )

    deployment = alice_api.create_model_deployment(
        cmlapi.CreateModelDeploymentRequest(cpu="1", memory="1", replicas=1),
        pid,
        model.id,
        build.id,
    )
    assert isinstance(deployment, cmlapi.ModelDeployment)

    def status_is(*wanted: str) -> Callable[[], Any]:
        def check() -> Any:
            current = alice_api.get_model_deployment(pid, model.id, build.id, deployment.id)
            return current if current.status in wanted else None

        return check

    assert tick_until(status_is("deployed", "failed"), "the deployment").status == "deployed"
    crns = alice_api.list_model_deployments(pid, model.id, build.id).to_dict()
    assert crns["model_deployments"][-1]["crn"] == deployment.crn

    stopped = alice_api.stop_model_deployment(pid, model.id, build.id, deployment.id)
    assert isinstance(stopped, cmlapi.ModelDeployment)
    tick_until(status_is("stopped"), "the stop")
    alice_api.restart_model_deployment(pid, model.id, build.id, deployment_id=deployment.id)
    assert tick_until(status_is("deployed", "failed"), "the restart").status == "deployed"

    assert alice_api.delete_model(pid, model.id) is None
    assert alice_api.list_models(pid).models == []


MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.pyfunc\n"


def test_experiments_runs_and_the_registry(cmlapi: ModuleType, alice_api: Any) -> None:
    pid = alice_api.create_project({"name": "Tracking"}).id
    experiment = alice_api.create_experiment(
        cmlapi.CreateExperimentRequest(project_id=pid, name="churn"), pid
    )
    assert isinstance(experiment, cmlapi.Experiment) and experiment.name == "churn"
    assert [e.id for e in alice_api.list_experiments(pid).experiments if e.name == "churn"] == [
        experiment.id
    ]
    assert experiment.id in [e.id for e in alice_api.list_all_experiments().experiments]
    renamed = alice_api.update_experiment({"name": "churn-v2"}, pid, experiment.id)
    assert renamed.name == "churn-v2"
    assert alice_api.get_experiment(pid, experiment.id).name == "churn-v2"

    run = alice_api.create_experiment_run(
        cmlapi.CreateExperimentRunRequest(
            project_id=pid,
            experiment_id=experiment.id,
            tags=[cmlapi.ExperimentRunTag(key="stage", value="dev")],
        ),
        pid,
        experiment.id,
    )
    assert isinstance(run, cmlapi.ExperimentRun) and run.experiment_id == experiment.id
    alice_api.log_experiment_run_batch(
        cmlapi.LogExperimentRunBatchRequest(
            metrics=[
                cmlapi.ExperimentRunMetric(key="auc", value=0.5, step=0),
                cmlapi.ExperimentRunMetric(key="auc", value=0.75, step=1),
            ],
            params=[cmlapi.ExperimentRunParam(key="alpha", value="0.1")],
        ),
        pid,
        experiment.id,
        run.id,
    )
    fetched = alice_api.get_experiment_run(pid, experiment.id, run.id)
    assert {"key": "alpha", "value": "0.1"} in fetched.to_dict()["data"]["params"]
    history = alice_api.get_experiment_run_metrics(pid, experiment.id, run.id, "auc")
    assert [(m.value, m.step) for m in history.metrics] == [(0.5, 0), (0.75, 1)]
    assert isinstance(history.metrics[0].timestamp, int)  # an int64 sent as a string
    runs = alice_api.list_experiment_runs(pid, experiment.id)
    assert [r.id for r in runs.experiment_runs] == [run.id]
    ended = alice_api.update_experiment_run(
        cmlapi.UpdateExperimentRunRequest(
            name="baseline", status="FINISHED", end_time=1700000000000
        ),
        pid,
        experiment.id,
        run.id,
    )
    assert (ended.name, ended.status, ended.end_time) == ("baseline", "FINISHED", 1700000000000)
    renamed = alice_api.update_experiment_run({"name": "baseline-2"}, pid, experiment.id, run.id)
    assert (renamed.name, renamed.status) == ("baseline-2", "FINISHED")  # status kept
    with pytest.raises(cmlapi.rest.ApiException) as bad_status:
        alice_api.update_experiment_run({"status": "DONE"}, pid, experiment.id, run.id)
    assert bad_status.value.status == 400 and "FINISHED" in bad_status.value.message
    extra = [alice_api.create_experiment_run({}, pid, experiment.id).id for _ in range(2)]
    with pytest.raises(cmlapi.rest.ApiException) as unknown:  # all or none
        alice_api.delete_experiment_run_batch({"run_ids": [extra[0], "0" * 32]}, pid, experiment.id)
    assert unknown.value.status == 404
    assert len(alice_api.list_experiment_runs(pid, experiment.id).experiment_runs) == 3
    alice_api.delete_experiment_run_batch(
        cmlapi.DeleteExperimentRunBatchRequest(run_ids=extra), pid, experiment.id
    )
    left = alice_api.list_experiment_runs(pid, experiment.id).experiment_runs
    assert [r.id for r in left] == [run.id]

    # A model in the run's artifacts, registered twice: the second call adds version 2.
    prefix = f".experiments/{experiment.id}/{run.id}/artifacts/model"
    alice_api.upload_file(pid, {f"{prefix}/MLmodel": MLMODEL})
    body = {
        "project_id": pid,
        "experiment_id": experiment.id,
        "run_id": run.id,
        "model_name": "churn-model",
        "model_path": "model",
    }
    first = alice_api.create_registered_model(cmlapi.CreateRegisteredModelRequest(**body))
    assert isinstance(first, cmlapi.RegisteredModel)
    second = alice_api.create_registered_model(body)
    assert second.model_id == first.model_id
    assert second.model_versions[0].number == 2  # the version just created comes first
    version_id = second.model_versions[0].model_version_id
    found = alice_api.list_registered_models(
        search_filter=json.dumps({"model_name": "churn"}), sort="created_at", page_size=10
    )
    assert [m.model_id for m in found.models] == [first.model_id]
    assert len(alice_api.get_registered_model(first.model_id).model_versions) == 2
    version = alice_api.get_registered_model_version(first.model_id, version_id)
    assert version.model_version_metadata.mlflow_metadata.run_id == run.id
    described = alice_api.update_registered_model({"description": "churn, weekly"}, first.model_id)
    assert described.description == "churn, weekly" and len(described.model_versions) == 2
    first_version = next(v for v in described.model_versions if v.number == 1)
    alice_api.delete_registered_model_version(first.model_id, first_version.model_version_id)
    remaining = alice_api.get_registered_model(first.model_id).model_versions
    assert [v.number for v in remaining] == [2]
    alice_api.delete_registered_model(first.model_id)
    assert alice_api.list_registered_models().models == []

    alice_api.delete_experiment_run(pid, experiment.id, run.id)
    assert alice_api.list_experiment_runs(pid, experiment.id).experiment_runs == []
    alice_api.delete_experiment(pid, experiment.id)
    assert experiment.id not in [e.id for e in alice_api.list_experiments(pid).experiments]

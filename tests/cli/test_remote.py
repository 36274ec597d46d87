"""`lakeworks projects list`, `jobs list` and `jobs run` against a live server (through
``cmlapi``): tables, names or ids for jobs, ``--wait`` on a real run, clear errors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.sdk import conftest as sdk

from lakeworks.cli.main import main
from lakeworks.scheduler.loop import Scheduler

# The live server and its users (see tests/sdk/conftest.py).
_drop_mlflow_schemas = sdk._drop_mlflow_schemas
cmlapi = sdk.cmlapi
sdk_server = sdk.sdk_server
sdk_platform = sdk.sdk_platform
alice = sdk.alice
alice_api = sdk.alice_api

Invoke = Callable[..., Result]


@contextmanager
def ticking(platform: Any) -> Iterator[None]:
    """The server's scheduler is off in tests: tick one while a command waits."""
    scheduler, stop = Scheduler(platform), threading.Event()

    def tick() -> None:
        while not stop.is_set():
            scheduler.tick(wait=True)
            stop.wait(0.2)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(timeout=60)
        scheduler.stop()


@pytest.fixture
def remote(sdk_server: Any, alice_api: Any) -> Invoke:
    key = alice_api.api_client.default_headers["authorization"].split()[1]

    def invoke(*args: str) -> Result:
        env = {"CDSW_API_URL": f"{sdk_server.url}/api/v1", "CDSW_APIV2_KEY": key}
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_projects_list_prints_a_table(remote: Invoke, alice_api: Any) -> None:
    first = alice_api.create_project({"name": "Churn"})
    alice_api.create_project({"name": "Fraud"})
    listed = remote("projects", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "OWNER", "VISIBILITY"]
    assert [line.split()[1] for line in lines[1:]] == ["Churn", "Fraud"]
    assert lines[1].split() == [first.id, "Churn", "alice", "private"]
    searched = remote("projects", "list", "--search", "fra")
    assert [line.split()[1] for line in searched.output.splitlines()[1:]] == ["Fraud"]


def test_jobs_run_by_name_waits_for_a_real_run(
    remote: Invoke, alice_api: Any, sdk_platform: Any
) -> None:
    pid = alice_api.create_project({"name": "CLI jobs"}).id
    alice_api.upload_file(pid, {"hello.py": "import os\nprint('hello', os.environ['WHO'])\n"})
    job = alice_api.create_job({"name": "hello", "script": "hello.py"}, pid)
    listed = remote("jobs", "list", pid)
    assert listed.exit_code == 0 and listed.output.splitlines()[1].split()[:4] == [
        job.id,
        "hello",
        "hello.py",
        "manual",
    ]
    with ticking(sdk_platform):
        ran = remote(
            "jobs", "run", pid, "hello", "--env", "WHO=cli", "--wait", "--poll-seconds", "0.5"
        )
    assert ran.exit_code == 0, ran.output
    run_id = ran.output.split()[0]
    assert ran.output.splitlines()[-1] == f"{run_id} ENGINE_SUCCEEDED"
    run = alice_api.get_job_run(pid, job.id, run_id)
    assert run.status == "ENGINE_SUCCEEDED" and '"WHO": "cli"' in run.environment


def test_errors_are_one_line_messages(remote: Invoke, alice_api: Any, sdk_server: Any) -> None:
    pid = alice_api.create_project({"name": "Errors"}).id
    missing = remote("jobs", "run", pid, "nope")
    assert missing.exit_code == 1 and f"No job named 'nope' in project {pid}." in missing.output
    unknown = remote("jobs", "list", "zzzz-zzzz-zzzz-zzzz")
    assert unknown.exit_code == 1 and "(HTTP 404)" in unknown.output
    bad_env = remote("jobs", "run", pid, "x", "--env", "novalue")
    assert bad_env.exit_code == 2 and "NAME=VALUE" in bad_env.output
    no_key = CliRunner().invoke(
        main, ["projects", "list", "--url", sdk_server.url], env={"CDSW_APIV2_KEY": None}
    )
    assert no_key.exit_code == 1 and "CDSW_APIV2_KEY" in no_key.output


def test_models_deploy_builds_then_deploys_a_file_by_model_name(
    remote: Invoke, alice_api: Any, sdk_platform: Any
) -> None:
    pid = alice_api.create_project({"name": "CLI models"}).id
    alice_api.upload_file(pid, {"predict.py": "def predict(args):\n    return args\n"})
    model = alice_api.create_model({"name": "echo"}, pid)
    listed = remote("models", "list", pid)
    assert listed.output.splitlines()[1].split() == [model.id, "echo", model.access_key, "yes"]
    nothing = remote("models", "deploy", pid, "echo")
    assert nothing.exit_code == 1 and "has no build" in nothing.output
    with ticking(sdk_platform):
        deployed = remote(
            "models",
            "deploy",
            pid,
            "echo",
            "--file",
            "predict.py",
            "--function",
            "predict",
            "--memory",
            "1",
            "--wait",
            "--poll-seconds",
            "0.5",
        )
    assert deployed.exit_code == 0, deployed.output
    build_line, deployment_line = deployed.output.splitlines()
    build_id = build_line.split()[1]
    assert build_line == f"build {build_id} built"
    deployment_id = deployment_line.split()[1]
    assert deployment_line == f"deployment {deployment_id} deployed"
    shown = alice_api.get_model_deployment(pid, model.id, build_id, deployment_id)
    assert shown.status == "deployed" and shown.memory == 1.0
    half = remote("models", "deploy", pid, model.id, "--file", "predict.py")
    assert half.exit_code == 2 and "--file and --function go together" in half.output

"""Workloads get MLflow's variables below the user layers: a project value, even "", wins."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind
from lakeworks.services import projects
from lakeworks.services.environment import PreparedRuntime, compose
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.workloads import LaunchContext


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([], "http://testserver/mlflow"),
        ([{"MLFLOW_TRACKING_URI": ""}], ""),
        ([{}, {"MLFLOW_TRACKING_URI": "http://elsewhere:5000"}], "http://elsewhere:5000"),
    ],
)
def test_mlflow_variables_sit_below_user_layers(
    platform: Platform,
    make_user: Callable[..., User],
    tmp_path: Path,
    layers: list[dict[str, object]],
    expected: str,
) -> None:
    alice = make_user("alice")
    project = projects.create(
        platform, Principal(user=alice, via="cli"), name="P", source=projects.parse_source("", "")
    )
    runtime = PreparedRuntime(
        directory=tmp_path / "runtime", python="python3", base_env={}, site_dir=tmp_path
    )
    env = compose(
        platform,
        runtime,
        LaunchContext(engine_id="e" * 16, project_home="/home/cdsw", v1_key="v1", v2_key="lwk_x"),
        project=project,
        user=alice,
        kind=WorkloadKind.JOB_RUN,
        resources=Resources(),
        layers=layers,
    )
    assert env["MLFLOW_TRACKING_URI"] == expected
    assert env["MLFLOW_TRACKING_TOKEN"] == "lwk_x"
    if not layers:
        assert env["MLFLOW_REGISTRY_URI"] == "http://testserver/mlflow"
        # A project's own MLflow 3 client sends no usage data to the vendor.
        assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_the_server_sends_mlflow_no_usage_data() -> None:
    # Set when lakeworks.tracking is imported, before any of ours imports MLflow (whose own
    # check also stands down under pytest, so the variable is what is checked here).
    import os

    import lakeworks.tracking  # noqa: F401

    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"

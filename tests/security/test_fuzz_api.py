"""Issue 12: Schemathesis over ``/api/v2/openapi.json`` against the in-process app, 0 server
errors. Bounded (a fixed seed, a few examples per operation) and kept out of the normal run:
``pytest -m fuzz tests/security/test_fuzz_api.py`` (``.ci/run`` runs it as its own step).

The fuzzer calls as a site administrator (so admin-only operations are reached) with its own API
key. Path parameters name real objects where the fuzzer could not guess them: ``project_id`` is
a seeded project, ``username`` the seeded user ``bob`` (so a generated PATCH or key revocation
acts on bob, never on the fuzzer's own account or key). The operations that revoke keys are also
excluded outright, so that no generated path could ever end the fuzzer's access."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from tests.tracking.fixtures import tracking_settings

from lakeworks.config import Settings
from lakeworks.entities.users import User

pytestmark = pytest.mark.fuzz

SEED = 20261203
# Examples per operation and phase; LAKEWORKS_FUZZ_EXAMPLES raises it for a longer run by hand.
MAX_EXAMPLES = int(os.environ.get("LAKEWORKS_FUZZ_EXAMPLES", "5"))
# Would revoke the key the fuzzer calls with (were its username ever generated).
KEY_REVOKERS = ("delete_v2_key", "delete_v2_keys")

CASES: dict[str, int] = {}  # operation → cases sent, reported at the end
SECONDS: dict[str, float] = {}  # operation → time spent answering
SERVER_ERRORS: list[str] = []


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The experiments and registry operations need the embedded MLflow's database.
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def fuzz_setup(
    client: TestClient,
    app: FastAPI,
    admin: User,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> dict[str, Any]:
    headers = api_headers(admin)
    make_user("bob")
    project = client.post("/api/v2/projects", headers=headers, json={"name": "Fuzz"}).json()
    client.put(
        f"/api/v2/projects/{project['id']}/files/train.py", headers=headers, content=b"print(1)\n"
    )
    return {"headers": headers, "project_id": project["id"], "app": app}


@pytest.fixture
def api_schema(fuzz_setup: dict[str, Any]) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_asgi(
        "/api/v2/openapi.json", fuzz_setup["app"], config=config
    )
    return schema.exclude(operation_id=list(KEY_REVOKERS))


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(2400)  # one test for all operations (a subtest each), ~20 minutes
# Schemathesis' ASGI transport (starlette-testclient, a client per call) leaves anyio streams for
# the garbage collector; third-party noise, not the app's.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*MemoryObjectReceiveStream:pytest.PytestUnraisableExceptionWarning"
)
@schema.parametrize()
def test_no_server_errors(case: Any, fuzz_setup: dict[str, Any]) -> None:
    if case.path_parameters:
        if "project_id" in case.path_parameters:
            case.path_parameters["project_id"] = fuzz_setup["project_id"]
        if "username" in case.path_parameters:
            case.path_parameters["username"] = "bob"
    label = case.operation.label
    CASES[label] = CASES.get(label, 0) + 1
    started = time.perf_counter()
    response = case.call(headers=fuzz_setup["headers"])
    SECONDS[label] = SECONDS.get(label, 0.0) + time.perf_counter() - started
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"{label} {response.status_code}")
    case.validate_response(response, checks=[not_a_server_error])


def test_report_fuzz_figures() -> None:
    """Prints the figures for the issue note (runs after the fuzzing above, in file order)."""
    total = sum(CASES.values())
    print(f"\nfuzz: {total} cases over {len(CASES)} operations, seed {SEED}, ", end="")
    print(f"{len(SERVER_ERRORS)} server errors ({sorted(set(SERVER_ERRORS))})")
    slowest = sorted(SECONDS.items(), key=lambda item: -item[1])[:5]
    print("slowest operations: " + ", ".join(f"{label} {s:.1f} s" for label, s in slowest))
    assert not SERVER_ERRORS

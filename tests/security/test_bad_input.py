"""Issue 12, L1 to L4: bad input is answered 4xx with a message saying what was wrong, and changes
nothing. Each case is one the review sent (most answered 500 before): absurd numbers, NaN and
Infinity, a cron that never fires, an empty user PATCH, deeply nested JSON, 405 without
``Allow``, and an OpenAPI that documented 422 where the API answers 400."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lakeworks import bounds
from lakeworks.entities.users import User

Headers = dict[str, str]


def refused(response: httpx.Response, *words: str, status: int = 400) -> dict[str, Any]:
    """The response is ``status`` with a JSON body (strict: no NaN) whose message names what was
    wrong (each of ``words``, case-insensitively)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = json.loads(response.text, parse_constant=_no_constants)
    message = str(body.get("message") or body.get("errors", {}).get("message", ""))
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return body


def _no_constants(name: str) -> None:
    raise AssertionError(f"the response carries {name}, which is not JSON")


def raw(value: str, **fields: Any) -> str:
    """A JSON object whose ``value`` key holds ``value`` verbatim (NaN, 1e308, ...)."""
    text = json.dumps({**fields, "value": "@"})
    return text.replace('"@"', value)


@pytest.fixture
def admin_headers(admin: User, api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(admin)


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def project(client: TestClient, alice: Headers) -> str:
    pid = client.post("/api/v2/projects", headers=alice, json={"name": "Bad"}).json()["id"]
    for name in ("train.py", "web.py", "predict.py"):
        client.put(
            f"/api/v2/projects/{pid}/files/{name}",
            headers=alice,
            content=b"def predict(args):\n    return args\n",
        )
    return str(pid)


def send(client: TestClient, method: str, url: str, headers: Headers, body: str) -> httpx.Response:
    return client.request(
        method, url, headers={**headers, "Content-Type": "application/json"}, content=body
    )


# L1: the cases that answered 500 -----------------------------------------------------------


def test_an_empty_user_patch_is_refused_and_changes_nothing(
    client: TestClient, admin_headers: Headers, make_user: Callable[..., User]
) -> None:
    make_user("bob")
    before = client.get("/api/v2/users/bob", headers=admin_headers).json()
    refused(client.patch("/api/v2/users/bob", headers=admin_headers, json={}), "nothing to change")
    assert client.get("/api/v2/users/bob", headers=admin_headers).json() == before


@pytest.mark.parametrize("memory", ["1e17", "1e308", "1e20"])
def test_absurd_quota_and_profile_memory_is_refused(
    client: TestClient, admin_headers: Headers, make_user: Callable[..., User], memory: str
) -> None:
    make_user("bob")
    quota = "/api/v2/users/bob/quota"
    before = client.get(quota, headers=admin_headers).json()
    refused(send(client, "PUT", quota, admin_headers, raw(memory, cpu=2)), "memory")
    body = f'{{"cpu": 2, "memory": {memory}}}'
    refused(send(client, "PUT", quota, admin_headers, body), "memory")
    assert client.get(quota, headers=admin_headers).json() == before

    profiles = client.get("/api/v2/resource_profiles", headers=admin_headers).json()
    body = f'{{"name": "huge", "cpu": 2, "memory": {memory}}}'
    refused(send(client, "POST", "/api/v2/resource_profiles", admin_headers, body), "memory")
    assert client.get("/api/v2/resource_profiles", headers=admin_headers).json() == profiles


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_a_cron_that_never_fires_is_refused(
    client: TestClient, alice: Headers, project: str, cron: str
) -> None:
    jobs = f"/api/v2/projects/{project}/jobs"
    refused(
        client.post(
            jobs, headers=alice, json={"name": "J", "script": "train.py", "schedule": cron}
        ),
        "never",
    )
    assert client.get(jobs, headers=alice).json()["jobs"] == []
    job = client.post(
        jobs, headers=alice, json={"name": "J", "script": "train.py", "schedule": "0 0 * * *"}
    ).json()
    refused(client.patch(f"{jobs}/{job['id']}", headers=alice, json={"schedule": cron}), "never")
    assert client.get(f"{jobs}/{job['id']}", headers=alice).json()["schedule"] == "0 0 * * *"


def test_huge_memory_is_refused_on_every_workload(
    client: TestClient, alice: Headers, project: str
) -> None:
    base = f"/api/v2/projects/{project}"
    for memory in ("1e20", "1e308", str(bounds.MAX_MEMORY_MB / 1024 + 1)):
        job = raw(memory, name="J", script="train.py").replace('"value"', '"memory"')
        refused(send(client, "POST", f"{base}/jobs", alice, job), "memory")
        app = raw(memory, name="A", subdomain="a", script="web.py").replace('"value"', '"memory"')
        refused(send(client, "POST", f"{base}/applications", alice, app), "memory")
        model = raw(memory, name="M").replace('"value"', '"memory"')
        refused(send(client, "POST", f"{base}/models", alice, model), "memory")
    assert client.get(f"{base}/jobs", headers=alice).json()["jobs"] == []
    assert client.get(f"{base}/applications", headers=alice).json()["applications"] == []
    assert client.get(f"{base}/models", headers=alice).json()["models"] == []

    # Updates and deployments (the build stays pending: bounds are checked first).
    job = client.post(f"{base}/jobs", headers=alice, json={"name": "J", "script": "train.py"})
    job_url = f"{base}/jobs/{job.json()['id']}"
    refused(send(client, "PATCH", job_url, alice, '{"memory": 1e20}'), "memory")
    assert client.get(job_url, headers=alice).json()["memory"] == job.json()["memory"]
    model = client.post(f"{base}/models", headers=alice, json={"name": "M"}).json()
    builds = f"{base}/models/{model['id']}/builds"
    build = client.post(
        builds, headers=alice, json={"file_path": "predict.py", "function_name": "predict"}
    ).json()
    deployments = f"{builds}/{build['id']}/deployments"
    for memory in ("1e20", "1e308"):
        refused(send(client, "POST", deployments, alice, f'{{"memory": {memory}}}'), "memory")
    assert client.get(deployments, headers=alice).json()["model_deployments"] == []
    auto = {
        "file_path": "predict.py",
        "function_name": "predict",
        "auto_deploy_model": True,
        "auto_deployment_config": {"cpu": 1, "memory": 1e20, "replicas": 1},
    }
    refused(client.post(builds, headers=alice, json=auto), "memory")
    assert len(client.get(builds, headers=alice).json()["model_builds"]) == 1


@pytest.mark.parametrize("value", ["1e30", "1e308", str(bounds.MAX_SHARED_MEMORY_MB + 1)])
def test_huge_shared_memory_limit_is_refused(
    client: TestClient, alice: Headers, project: str, value: str
) -> None:
    before = client.get("/api/v2/projects", headers=alice).json()["projects"]
    created = send(
        client,
        "POST",
        "/api/v2/projects",
        alice,
        f'{{"name": "S", "shared_memory_limit": {value}}}',
    )
    refused(created, "shared_memory_limit")
    assert client.get("/api/v2/projects", headers=alice).json()["projects"] == before
    url = f"/api/v2/projects/{project}"
    patched = send(client, "PATCH", url, alice, f'{{"shared_memory_limit": {value}}}')
    refused(patched, "shared_memory_limit")
    assert client.get(url, headers=alice).json()["shared_memory_limit"] == 64


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_is_refused_by_the_api(
    client: TestClient, alice: Headers, project: str
) -> None:
    jobs = f"/api/v2/projects/{project}/jobs"
    for depth in (bounds.MAX_JSON_DEPTH + 1, 100_000):
        body = f'{{"name": "J", "script": "train.py", "environment": {{"A": {_nested(depth)}}}}}'
        refused(send(client, "POST", jobs, alice, body), "nested")
    assert client.get(jobs, headers=alice).json()["jobs"] == []
    # Within the bound, nesting is fine (the value is kept as the string CML keeps).
    body = (
        f'{{"name": "J", "script": "train.py", "environment": '
        f'{{"A": {_nested(bounds.MAX_JSON_DEPTH - 2)}}}}}'
    )
    assert send(client, "POST", jobs, alice, body).status_code == 200


def test_deeply_nested_json_is_refused_by_the_model_gateway(client: TestClient) -> None:
    for depth in (bounds.MAX_JSON_DEPTH + 1, 100_000):
        body = f'{{"accessKey": "k", "request": {_nested(depth)}}}'
        response = client.post("/model", content=body)
        refused(response, "nested")
        assert response.json()["errors"]["code"] == "request.invalid"
    # Within the bound the gateway goes on to look the key up.
    body = f'{{"accessKey": "k", "request": {_nested(bounds.MAX_JSON_DEPTH - 2)}}}'
    assert client.post("/model", content=body).status_code == 404


def test_the_gateway_refuses_nan_and_answers_405_with_allow(client: TestClient) -> None:
    refused(client.post("/model", content='{"accessKey": "k", "request": NaN}'), "NaN")
    wrong = client.get("/model")
    refused(wrong, "POST", status=405)
    assert wrong.headers["allow"] == "POST, OPTIONS"


# L2 to L4: absurd values, NaN and Infinity ------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", '"NaN"', '"inf"'])
def test_nan_and_infinity_are_refused_everywhere(
    client: TestClient, alice: Headers, admin_headers: Headers, project: str, constant: str
) -> None:
    base = f"/api/v2/projects/{project}"
    cases = [
        ("POST", f"{base}/jobs", alice, raw(constant, name="J", script="train.py"), "cpu"),
        ("POST", f"{base}/jobs", alice, raw(constant, name="J", script="train.py"), "memory"),
        ("POST", f"{base}/applications", alice, raw(constant, name="A", script="web.py"), "cpu"),
        ("POST", f"{base}/models", alice, raw(constant, name="M"), "cpu"),
        (
            "POST",
            "/api/v2/resource_profiles",
            admin_headers,
            raw(constant, name="P", memory=1),
            "cpu",
        ),
        ("PUT", "/api/v2/users/alice/quota", admin_headers, raw(constant, memory=1), "cpu"),
        ("POST", "/api/v2/projects", alice, raw(constant, name="N"), "shared_memory_limit"),
    ]
    for method, url, headers, body, field in cases:
        body = body.replace('"value"', f'"{field}"')
        refused(send(client, method, url, headers, body), field)
    # In free-form values too (the environment), where no schema type would catch it.
    env = f'{{"name": "J", "script": "train.py", "environment": {{"A": {constant}}}}}'
    if not constant.startswith('"'):
        refused(send(client, "POST", f"{base}/jobs", alice, env), constant.lstrip("-"))
    assert client.get(f"{base}/jobs", headers=alice).json()["jobs"] == []
    assert client.get(f"{base}/models", headers=alice).json()["models"] == []
    assert [
        p["name"] for p in client.get("/api/v2/projects", headers=alice).json()["projects"]
    ] == ["Bad"]


def test_absurd_numbers_are_refused_with_the_bound(
    client: TestClient, alice: Headers, admin_headers: Headers, project: str
) -> None:
    base = f"/api/v2/projects/{project}"
    job = {"name": "J", "script": "train.py"}
    app = {"name": "A", "subdomain": "a", "script": "web.py"}
    cases: list[tuple[str, str, Headers, dict[str, Any], str]] = [
        ("POST", f"{base}/jobs", alice, job | {"cpu": 1e308}, "cpu"),
        ("POST", f"{base}/jobs", alice, job | {"cpu": bounds.MAX_CPU + 1}, "cpu"),
        ("POST", f"{base}/jobs", alice, job | {"timeout": 10**12}, "timeout"),
        ("POST", f"{base}/jobs", alice, job | {"timeout": 1e308}, "timeout"),
        ("POST", f"{base}/applications", alice, app | {"cpu": 1e308}, "cpu"),
        ("POST", f"{base}/applications", alice, app | {"nvidia_gpu": 10**9}, "nvidia_gpu"),
        ("POST", f"{base}/models", alice, {"name": "M", "replicas": 10**9}, "replicas"),
        ("POST", f"{base}/models", alice, {"name": "M", "cpu": 1e308}, "cpu"),
        (
            "POST",
            "/api/v2/resource_profiles",
            admin_headers,
            {"name": "P", "cpu": 1, "memory": 1, "nvidia_gpu": 10**30},
            "nvidia_gpu",
        ),
        ("PUT", "/api/v2/users/alice/quota", admin_headers, {"cpu": 1e308, "memory": 1}, "cpu"),
    ]
    for method, url, headers, body, field in cases:
        refused(client.request(method, url, headers=headers, json=body), field)
    assert client.get(f"{base}/jobs", headers=alice).json()["jobs"] == []
    assert client.get(f"{base}/applications", headers=alice).json()["applications"] == []
    assert client.get(f"{base}/models", headers=alice).json()["models"] == []


def test_replicas_and_timeouts_of_a_deployment_are_bounded(
    client: TestClient, alice: Headers, project: str
) -> None:
    base = f"/api/v2/projects/{project}"
    model = client.post(f"{base}/models", headers=alice, json={"name": "M"}).json()
    builds = f"{base}/models/{model['id']}/builds"
    build = client.post(
        builds, headers=alice, json={"file_path": "predict.py", "function_name": "predict"}
    ).json()
    deployments = f"{builds}/{build['id']}/deployments"
    for body, field in (
        ({"replicas": 10**9}, "replicas"),
        ({"replicas": 1e308}, "replicas"),
        ({"cpu": 1e308}, "cpu"),
        ({"timeout": 1e308}, "timeout"),
        ({"timeout": bounds.MAX_REQUEST_TIMEOUT_SECONDS + 1}, "timeout"),
    ):
        refused(client.post(deployments, headers=alice, json=body), field)
    assert client.get(deployments, headers=alice).json()["model_deployments"] == []


def test_names_and_text_fields_have_a_length_bound(
    client: TestClient, alice: Headers, admin_headers: Headers, project: str
) -> None:
    base = f"/api/v2/projects/{project}"
    huge = "x" * 1_000_000
    job = {"name": "J", "script": "train.py"}
    cases: list[tuple[str, str, Headers, dict[str, Any], str]] = [
        ("POST", f"{base}/jobs", alice, {"name": huge, "script": "train.py"}, "name"),
        (
            "POST",
            f"{base}/jobs",
            alice,
            job | {"arguments": huge},
            "arguments",
        ),
        (
            "POST",
            f"{base}/applications",
            alice,
            {"name": huge, "script": "web.py"},
            "name",
        ),
        ("POST", f"{base}/models", alice, {"name": huge}, "name"),
        ("POST", f"{base}/models", alice, {"name": "M", "description": huge}, "description"),
        ("POST", "/api/v2/projects", alice, {"name": huge}, "name"),
        ("POST", "/api/v2/projects", alice, {"name": "P", "description": huge}, "description"),
        ("POST", f"{base}/experiments", alice, {"name": huge}, "name"),
        ("POST", "/api/v2/teams", admin_headers, {"name": huge}, "name"),
        (
            "POST",
            "/api/v2/resource_profiles",
            admin_headers,
            {"name": huge, "cpu": 1, "memory": 1},
            "name",
        ),
    ]
    for method, url, headers, body, field in cases:
        refused(client.request(method, url, headers=headers, json=body), field)
    assert client.get(f"{base}/jobs", headers=alice).json()["jobs"] == []
    assert client.get(f"{base}/models", headers=alice).json()["models"] == []
    # A job name at the bound is fine.
    at_bound = {"name": "j" * bounds.MAX_NAME, "script": "train.py"}
    assert client.post(f"{base}/jobs", headers=alice, json=at_bound).status_code == 200


# HTTP semantics and the documented contract -------------------------------------------------


def test_405_carries_allow(client: TestClient, alice: Headers) -> None:
    response = client.put("/api/v2/users/me", headers=alice)
    refused(response, "PUT", status=405)
    # GET /users/me and PATCH /users/{username} both answer this path.
    assert response.headers["allow"] == "GET, PATCH"
    response = client.delete("/api/v2/projects", headers=alice)
    refused(response, status=405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


def test_openapi_documents_400_not_422(client: TestClient) -> None:
    spec = client.get("/api/v2/openapi.json").json()
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert operations
    for op in operations:
        assert "422" not in op["responses"], op["operationId"]
        if op.get("requestBody") or op.get("parameters"):
            assert "400" in op["responses"], op["operationId"]
    assert "HTTPValidationError" not in spec.get("components", {}).get("schemas", {})
    error = spec["components"]["schemas"]["Error"]
    assert {"message", "code", "lakeworks_code"} <= set(error["properties"])
    job = spec["components"]["schemas"]["JobIn"]["properties"]
    cpu = job["cpu"]["anyOf"][0]
    assert cpu["maximum"] == bounds.MAX_CPU

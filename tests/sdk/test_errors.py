"""Bad input through ``cmlapi``: wrong ids, missing permissions, bad bodies and bad keys each
raise ``ApiException`` with the server's status and message (never a 5xx); a client without
a URL or key raises ``ValueError``."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth
from lakeworks.services.platform import Principal


def _raised(call: Any, *args: Any, **kwargs: Any) -> Any:
    with pytest.raises(Exception) as caught:
        call(*args, **kwargs)
    return caught.value


def test_wrong_ids_give_404_with_a_message(cmlapi: ModuleType, alice_api: Any) -> None:
    pid = alice_api.create_project({"name": "Errors"}).id
    alice_api.upload_file(pid, {"j.py": "print(1)\n"})
    job = alice_api.create_job({"name": "j", "script": "j.py"}, pid)
    cases = [
        (alice_api.get_project, ("zzzz-zzzz-zzzz-zzzz",)),
        (alice_api.get_job, (pid, "zzzz-zzzz-zzzz-zzzz")),
        (alice_api.get_job_run, (pid, job.id, "zzzz-zzzz-zzzz-zzzz")),
        (alice_api.create_job_run, ({}, pid, "zzzz-zzzz-zzzz-zzzz")),
        (alice_api.get_application, (pid, "zzzz-zzzz-zzzz-zzzz")),
        (alice_api.get_model, (pid, "00000000-0000-0000-0000-000000000000")),
        (alice_api.list_model_builds, (pid, "00000000-0000-0000-0000-000000000000")),
    ]
    for call, args in cases:
        error = _raised(call, *args)
        assert isinstance(error, cmlapi.rest.ApiException), (call.__name__, error)
        assert error.status == 404, (call.__name__, error.status, error.body)
        body = json.loads(error.body)
        assert body["message"] and body["code"] == 5, body  # gRPC NOT_FOUND
        assert error.reason == "Not Found"
        assert error.headers["content-type"] == "application/json"
        assert error.message == body["message"]


def test_bad_bodies_give_400_with_what_was_wrong(cmlapi: ModuleType, alice_api: Any) -> None:
    pid = alice_api.create_project({"name": "Bad input"}).id
    alice_api.upload_file(pid, {"x.py": "print(1)\n"})
    missing_script = _raised(alice_api.create_job, {"name": "x", "script": "nope.py"}, pid)
    assert missing_script.status == 400 and "nope.py" in missing_script.message
    missing = _raised(alice_api.create_job, {"name": "no script"}, pid)
    assert missing.status == 400 and "script" in missing.message
    both = _raised(
        alice_api.create_job,
        {"name": "x", "script": "x.py", "schedule": "0 * * * *", "parent_job_id": "abcd"},
        pid,
    )
    assert 400 <= both.status < 500 and both.message
    bad_memory = _raised(
        alice_api.create_job, {"name": "x", "script": "x.py", "memory": "lots"}, pid
    )
    assert bad_memory.status == 400 and "memory" in bad_memory.message
    no_name = _raised(alice_api.create_registered_model, {"project_id": pid})
    assert no_name.status == 400 and "model_name" in no_name.message
    duplicate = {"name": "m"}
    alice_api.create_model(duplicate, pid)
    conflict = _raised(alice_api.create_model, duplicate, pid)
    assert conflict.status == 409 and conflict.message


def test_other_users_and_bad_keys_are_refused(
    cmlapi: ModuleType, alice_api: Any, bob_api: Any, sdk_server: Any, bob: User
) -> None:
    pid = alice_api.create_project({"name": "Private"}).id
    hidden = _raised(bob_api.list_jobs, pid)
    assert hidden.status == 404 and hidden.message  # private projects do not leak
    alice_api.add_project_collaborator({"permission": "read"}, pid, "bob")
    assert bob_api.list_jobs(pid).jobs == []
    refused = _raised(bob_api.create_job, {"name": "x", "script": "x.py"}, pid)
    assert refused.status == 403 and refused.message
    keys = _raised(bob_api.list_v2_keys, "alice")
    assert keys.status in (403, 404) and keys.message

    nobody = cmlapi.default_client(sdk_server.url, "lwk_not-a-real-key")
    unauthenticated = _raised(nobody.list_projects)
    assert unauthenticated.status == 401 and unauthenticated.message
    # A legacy (API v1) key is not an API v2 Bearer key.
    legacy = auth.create_api_key(
        sdk_server.platform, Principal(user=bob, via="cli"), "bob", kind=ApiKeyKind.V1
    )
    v1 = cmlapi.default_client(sdk_server.url, legacy.secret)
    assert _raised(v1.list_projects).status == 401


def test_default_client_needs_a_url_and_a_key(
    cmlapi: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDSW_API_URL", raising=False)
    monkeypatch.delenv("CDSW_APIV2_KEY", raising=False)
    with pytest.raises(ValueError, match="CDSW_API_URL"):
        cmlapi.default_client()
    monkeypatch.setenv("CDSW_API_URL", "https://ml.example.org/api/v1")
    with pytest.raises(ValueError, match="CDSW_APIV2_KEY"):
        cmlapi.default_client()
    monkeypatch.setenv("CDSW_APIV2_KEY", "secret")
    api = cmlapi.default_client()
    assert api.api_client.configuration.host == "https://ml.example.org"
    assert api.api_client.default_headers["authorization"] == "Bearer secret"
    # From a laptop: arguments win over the environment.
    laptop = cmlapi.default_client("http://other:8000", "k2")
    assert laptop.api_client.configuration.host == "http://other:8000"


def test_an_unreachable_server_raises_api_exception_with_status_0(cmlapi: ModuleType) -> None:
    api = cmlapi.default_client("http://127.0.0.1:9", "key")
    error = _raised(api.list_projects, _request_timeout=5)
    assert isinstance(error, cmlapi.rest.ApiException)
    assert error.status == 0 and "Cannot reach" in error.reason

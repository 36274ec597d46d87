"""``cmlapi`` from outside against a live server: projects, runtimes, collaborators, files and
API keys, plus the call conventions of compat §6.2 (positional and keyword ids, dict bodies,
``async_req``, ``_with_http_info``, ``Cursor``)."""

from __future__ import annotations

import datetime
import json
from types import ModuleType
from typing import Any

import pytest

from lakeworks.entities.users import User


def test_projects_are_created_read_listed_updated_and_deleted(
    cmlapi: ModuleType, alice_api: Any
) -> None:
    created = alice_api.create_project(
        cmlapi.CreateProjectRequest(name="Churn", description="demo", template="blank")
    )
    assert isinstance(created, cmlapi.Project)
    assert created.name == "Churn" and created.owner.username == "alice"
    assert created.environment == "{}"  # a JSON string, as CML returns it
    assert isinstance(created.created_at, datetime.datetime)
    assert created.permissions.admin is True
    # A dict body works as well as a model.
    other = alice_api.create_project({"name": "Second", "unknown_key": 1})
    fetched = alice_api.get_project(project_id=created.id)
    assert fetched == alice_api.get_project(created.id)
    assert fetched.to_dict()["owner"]["username"] == "alice"

    listed = alice_api.list_projects(page_size=100, sort="-created_at")
    assert [p.id for p in listed.projects] == [other.id, created.id]
    assert listed.next_page_token == ""
    found = alice_api.list_projects(search_filter=json.dumps({"name": "chur"}))
    assert [p.name for p in found.projects] == ["Churn"]

    # Passing back the whole fetched object with one field changed (compat §6.2).
    fetched.description = "updated"
    fetched.environment = json.dumps({"STAGE": "prod", "N": 2})
    updated = alice_api.update_project(fetched, created.id)
    assert updated.description == "updated"
    assert json.loads(updated.environment) == {"STAGE": "prod", "N": "2"}
    assert updated.name == "Churn"

    assert alice_api.delete_project(other.id) is None
    with pytest.raises(cmlapi.rest.ApiException) as gone:
        alice_api.get_project(other.id)
    assert gone.value.status == 404


def test_call_conventions_async_http_info_and_cursor(cmlapi: ModuleType, alice_api: Any) -> None:
    ids = [alice_api.create_project({"name": f"p{i}"}).id for i in range(3)]
    pending = alice_api.get_project(ids[0], async_req=True)
    assert pending.get(timeout=30).id == ids[0]
    data, status, headers = alice_api.list_projects_with_http_info(page_size=1)
    assert status == 200 and len(data.projects) == 1 and data.next_page_token
    assert headers["content-type"].startswith("application/json")
    # Cursor follows next_page_token across pages of one.
    every = list(cmlapi.utils.Cursor(alice_api.list_projects, page_size=1).items())
    assert sorted(p.id for p in every) == sorted(ids)
    # Client-side argument errors, before any request.
    with pytest.raises(TypeError, match="unexpected keyword argument 'projectid'"):
        alice_api.get_project(projectid=ids[0])
    with pytest.raises(ValueError, match="Missing the required parameter `project_id`"):
        alice_api.get_project()
    with pytest.raises(TypeError, match="positional"):
        alice_api.get_project(ids[0], "extra")


def test_runtimes_and_addons_are_listed(cmlapi: ModuleType, alice_api: Any) -> None:
    runtimes = alice_api.list_runtimes(page_size=1000)
    assert isinstance(runtimes, cmlapi.ListRuntimesResponse) and runtimes.runtimes
    first = runtimes.runtimes[0]
    assert first.image_identifier and first.full_version
    as_dict = runtimes.to_dict()["runtimes"][0]
    assert as_dict["image_identifier"] == first.image_identifier
    same_editor = alice_api.list_runtimes(search_filter=json.dumps({"editor": first.editor}))
    assert first.image_identifier in [r.image_identifier for r in same_editor.runtimes]
    addons = alice_api.list_runtime_addons(page_size=100)
    assert isinstance(addons.runtime_addons, list)


def test_collaborators_share_a_project(
    cmlapi: ModuleType, alice_api: Any, bob_api: Any, bob: User
) -> None:
    project = alice_api.create_project({"name": "Shared"})
    with pytest.raises(cmlapi.rest.ApiException) as hidden:
        bob_api.get_project(project.id)
    assert hidden.value.status == 404
    added = alice_api.add_project_collaborator(
        cmlapi.AddProjectCollaboratorRequest(permission="read"), project.id, "bob"
    )
    assert added.username == "bob" and added.permission == "read"
    listed = alice_api.list_project_collaborators(project.id)
    assert [c.username for c in listed.collaborators] == ["bob"]
    assert bob_api.get_project(project.id).permissions.write is False
    # A viewer cannot change the project: 403 with the server's message.
    with pytest.raises(cmlapi.rest.ApiException) as refused:
        bob_api.update_project({"description": "bob was here"}, project.id)
    assert refused.value.status == 403
    assert json.loads(refused.value.body)["message"]
    alice_api.delete_project_collaborator(project.id, "bob")
    assert alice_api.list_project_collaborators(project.id).collaborators == []


def test_files_are_uploaded_listed_downloaded_moved_and_deleted(
    cmlapi: ModuleType, alice_api: Any, tmp_path: Any
) -> None:
    pid = alice_api.create_project({"name": "Files"}).id
    local = tmp_path / "notes.txt"
    local.write_text("local notes\n")
    stored = alice_api.upload_file(pid, {"data/train.csv": b"a,b\n1,2\n", "hello.txt": "hi"})
    assert sorted(f.path for f in stored.files) == ["data/train.csv", "hello.txt"]
    alice_api.upload_file(pid, [str(local)], path="docs")
    root = alice_api.list_project_files(pid)
    names = {f.path: f for f in root.files}
    assert names["data"].is_dir and names["docs"].is_dir and not names["hello.txt"].is_dir
    assert names["hello.txt"].file_size == 2  # sent as a string, read as an int
    inside = alice_api.list_project_files(pid, "data")
    assert [f.path for f in inside.files] == ["data/train.csv"]
    assert alice_api.download_project_file(pid, "data/train.csv") == b"a,b\n1,2\n"
    assert alice_api.download_project_file(pid, "docs/notes.txt") == b"local notes\n"
    moved = alice_api.update_project_file_metadata({"path": "greeting.txt"}, pid, "hello.txt")
    assert moved.path == "greeting.txt"
    alice_api.delete_project_file(pid, "greeting.txt")
    with pytest.raises(cmlapi.rest.ApiException) as missing:
        alice_api.download_project_file(pid, "greeting.txt")
    assert missing.value.status == 404


def test_api_keys_are_created_listed_and_revoked(
    cmlapi: ModuleType, alice_api: Any, sdk_server: Any
) -> None:
    created = alice_api.create_v2_key(cmlapi.CreateV2KeyRequest(name="laptop"), "alice")
    assert created.key and created.api_key.name == "laptop"
    laptop = cmlapi.default_client(sdk_server.url, created.key)
    assert laptop.list_projects().projects == []
    keys = alice_api.list_v2_keys("alice").api_keys
    assert "laptop" in [k.name for k in keys]
    alice_api.delete_v2_key("alice", created.api_key.key_id)
    with pytest.raises(cmlapi.rest.ApiException) as revoked:
        laptop.list_projects()
    assert revoked.value.status == 401
    # Revoking every key of the user ends this client too.
    spare = alice_api.create_v2_key({"name": "spare"}, "alice")
    assert alice_api.delete_v2_keys("alice") is None
    for client in (alice_api, cmlapi.default_client(sdk_server.url, spare.key)):
        with pytest.raises(cmlapi.rest.ApiException) as ended:
            client.list_projects()
        assert ended.value.status == 401

"""Host and path routing through the real app to real application workloads: who gets in,
what the app sees, websockets, the sign-in hop for subdomains."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tests.conftest import PASSWORD, login
from tests.proxy import fixtures

from lakeworks.config import Settings
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.services import applications, auth, projects, users
from lakeworks.services.applications import AppFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

# Fixtures shared by the application tests (see tests/proxy/fixtures.py).
app_owner = fixtures.app_owner
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
app_settings = fixtures.app_settings
wait_app = fixtures.wait_app


Wait = Callable[..., Application]
HOST = {"Host": "web.testserver"}


@pytest.fixture
def lw_app(app_settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(app_settings, store)


@pytest.fixture
def app_platform(lw_app: FastAPI) -> Iterator[Platform]:
    platform: Platform = lw_app.state.platform
    yield platform
    fixtures.stop_everything(platform)


@pytest.fixture
def web_client(lw_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(lw_app, base_url="http://testserver") as client:
        yield client


def bearer(platform: Platform, principal: Principal) -> dict[str, str]:
    key = auth.create_api_key(platform, principal, principal.user.username)
    return {"Authorization": f"Bearer {key.secret}"}


@pytest.fixture
def running(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> Iterator[Application]:
    app = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        AppFields(name="Web", subdomain="web", script="web.py"),
    )
    ready = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert ready.status is AppStatus.RUNNING, ready.reason
    yield ready
    applications.stop(app_platform, app_principal, app_project.id, app.id)
    wait_app(app.id, {AppStatus.STOPPED})


@pytest.fixture
def outsider(app_platform: Platform) -> Principal:
    user = users.create_user(
        app_platform, None, username="bob", password=PASSWORD, email="bob@example.org"
    )
    return Principal(user=user, via="api_key")


def test_host_routing_reaches_the_app_as_the_signed_in_member(
    web_client: TestClient, app_platform: Platform, app_principal: Principal, running: Application
) -> None:
    key = bearer(app_platform, app_principal)
    response = web_client.get("/some/page?x=1&y=2", headers=HOST | key)
    assert response.status_code == 200
    seen = response.json()
    assert seen["engine"] == running.workload_id
    assert seen["path"] == "/some/page" and seen["query"] == "x=1&y=2"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["host"] == "web.testserver"  # Host preserved
    assert headers["x-forwarded-host"] == "web.testserver"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-user"] == "owner"
    assert "authorization" not in headers  # the Lakeworks key stays with Lakeworks
    assert "x-forwarded-prefix" not in headers


def test_path_routing_strips_the_prefix_and_says_so(
    web_client: TestClient, app_platform: Platform, app_principal: Principal, running: Application
) -> None:
    key = bearer(app_platform, app_principal)
    bare = web_client.get("/apps/web", headers=key, follow_redirects=False)
    assert bare.status_code == 303 and bare.headers["location"] == "/apps/web/"
    seen = web_client.get("/apps/web/deep/path?q=1", headers=key).json()
    assert seen["path"] == "/deep/path" and seen["query"] == "q=1"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-forwarded-prefix"] == "/apps/web"
    assert headers["x-forwarded-user"] == "owner"


def test_non_members_and_anonymous_callers_are_refused(
    web_client: TestClient, app_platform: Platform, outsider: Principal, running: Application
) -> None:
    other = bearer(app_platform, outsider)
    assert web_client.get("/", headers=HOST | other).status_code == 404
    assert web_client.get("/apps/web/", headers=other).status_code == 404
    anonymous = web_client.get("/", headers=HOST)
    assert anonymous.status_code == 401
    assert "Sign in" in anonymous.json()["message"]
    bad_key = web_client.get("/", headers=HOST | {"Authorization": "Bearer nonsense"})
    assert bad_key.status_code == 401
    browser = web_client.get("/apps/web/x", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"] == "/login?next=%2Fapps%2Fweb%2Fx"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        web_client.websocket_connect("/apps/web/ws", headers=other),
    ):
        pass
    assert refused.value.code == 1008


def test_a_removed_member_and_a_revoked_key_lose_the_app_at_once(
    web_client: TestClient,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    outsider: Principal,
    running: Application,
) -> None:
    # The proxy remembers callers and decisions (proxy_route_cache_seconds); changes made
    # through the server still apply to the very next request.
    projects.set_collaborator(app_platform, app_principal, app_project.id, "bob", "viewer")
    bobs = bearer(app_platform, outsider)
    assert web_client.get("/", headers=HOST | bobs).status_code == 200
    assert web_client.get("/", headers=HOST | bobs).status_code == 200  # from the caches
    projects.remove_collaborator(app_platform, app_principal, app_project.id, "bob")
    assert web_client.get("/", headers=HOST | bobs).status_code == 404

    key = auth.create_api_key(app_platform, app_principal, "owner")
    owners = {"Authorization": f"Bearer {key.secret}"}
    assert web_client.get("/", headers=HOST | owners).status_code == 200
    auth.revoke_api_key(app_platform, app_principal, "owner", key.key.id)
    assert web_client.get("/", headers=HOST | owners).status_code == 401


def test_unknown_and_stopped_apps(
    web_client: TestClient,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    running: Application,
    wait_app: Wait,
) -> None:
    key = bearer(app_platform, app_principal)
    missing = web_client.get("/", headers={"Host": "nothing.testserver"} | key)
    assert missing.status_code == 404
    applications.stop(app_platform, app_principal, app_project.id, running.id)
    wait_app(running.id, {AppStatus.STOPPED})
    stopped = web_client.get("/", headers=HOST | key)
    assert stopped.status_code == 503
    assert "not running" in stopped.json()["message"]
    # A browser gets a styled page that says what to do and tries again by itself.
    page = web_client.get("/", headers=HOST | key | {"Accept": "text/html"})
    assert page.status_code == 503
    assert "<style>" in page.text and '<meta http-equiv="refresh" content="5">' in page.text
    assert "Start it from its project, then reload." in page.text


def test_public_apps_need_no_sign_in(
    web_client: TestClient,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    running: Application,
) -> None:
    applications.update(
        app_platform, app_principal, app_project.id, running.id, {"bypass_authentication": True}
    )
    seen = web_client.get("/", headers=HOST | {"X-Forwarded-User": "mallory"}).json()
    assert seen["engine"] == running.workload_id
    assert "x-forwarded-user" not in {k.lower() for k in seen["headers"]}


def test_websockets_pass_and_huge_frames_are_refused(
    web_client: TestClient, app_platform: Platform, app_principal: Principal, running: Application
) -> None:
    key = bearer(app_platform, app_principal)
    with web_client.websocket_connect("/ws", headers=HOST | key) as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "echo:hello"
        ws.send_bytes(b"\x01\x02")
        assert ws.receive_bytes() == b"\x01\x02"
    with web_client.websocket_connect("/apps/web/ws", headers=key) as ws:
        ws.send_bytes(b"x" * (app_platform.settings.proxy_max_ws_message_bytes + 1))
        message = ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 1009
    # The app and the proxy are unharmed.
    assert web_client.get("/", headers=HOST | key).json()["engine"] == running.workload_id


def test_engine_hosts_route_to_workload_ports_by_role(
    web_client: TestClient,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    outsider: Principal,
    running: Application,
) -> None:
    engine = running.workload_id
    owner_key = bearer(app_platform, app_principal)
    seen = web_client.get("/", headers={"Host": f"{engine}.testserver"} | owner_key).json()
    assert seen["engine"] == engine
    projects.set_collaborator(app_platform, app_principal, app_project.id, "bob", "viewer")
    app_platform.proxy_routes.forget()
    viewer_key = bearer(app_platform, outsider)
    # CDSW_APP_PORT is for contributors; a viewer may open the read-only port only.
    app_port = web_client.get("/", headers={"Host": f"{engine}.testserver"} | viewer_key)
    assert app_port.status_code == 403
    readonly = web_client.get("/", headers={"Host": f"read-only-{engine}.testserver"} | viewer_key)
    assert readonly.status_code == 502  # allowed, but this app does not listen there
    unknown = web_client.get("/", headers={"Host": "abcdefgh12345678.testserver"} | owner_key)
    assert unknown.status_code == 404


def test_modelservice_host_is_left_to_the_main_app(web_client: TestClient) -> None:
    page = web_client.get("/login", headers={"Host": "modelservice.testserver"})
    assert page.status_code == 200
    assert 'name="username"' in page.text


def test_browsers_sign_in_to_an_app_host_through_a_one_time_hop(
    web_client: TestClient, app_owner: object, running: Application
) -> None:
    first = web_client.get(
        "http://web.testserver/page?a=1", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert first.status_code == 303
    authorize = first.headers["location"]
    assert authorize.startswith("http://testserver/_lakeworks/authorize?next=")
    # Not signed in on the main host yet: to the login page, coming back here after.
    to_login = web_client.get(authorize, follow_redirects=False)
    assert to_login.headers["location"].startswith("/login?next=%2F_lakeworks%2Fauthorize")
    login(web_client, "owner")
    hop = web_client.get(authorize, follow_redirects=False)
    target = urlsplit(hop.headers["location"])
    assert (target.netloc, target.path) == ("web.testserver", "/_lakeworks/session")
    token = parse_qs(target.query)["token"][0]
    # The token is for that host only.
    elsewhere = web_client.get(
        f"http://other.testserver/_lakeworks/session?token={token}&next=/",
        follow_redirects=False,
    )
    assert elsewhere.status_code == 401
    landed = web_client.get(hop.headers["location"], follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/page?a=1"
    page = web_client.get("http://web.testserver/page?a=1")
    assert page.json()["engine"] == running.workload_id
    headers = {k.lower(): v for k, v in page.json()["headers"].items()}
    assert headers["x-forwarded-user"] == "owner"
    assert "lakeworks_session" not in headers.get("cookie", "")
    # Links elsewhere are not honoured.
    evil = web_client.get("/_lakeworks/authorize?next=http://evil.example/", follow_redirects=False)
    assert evil.status_code == 401


def test_the_path_form_can_be_turned_off(
    web_client: TestClient, app_platform: Platform, app_principal: Principal
) -> None:
    key = bearer(app_platform, app_principal)
    on = web_client.get("/apps/nothing/", headers=key)
    assert on.status_code == 404 and "No application" in on.json()["message"]
    app_platform.settings.app_path_routing = False
    off = web_client.get("/apps/nothing/", headers=key)
    assert off.status_code == 404 and "No application" not in off.text

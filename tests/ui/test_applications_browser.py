"""Applications in a real browser: a Flask app created from the form and a Streamlit app, both
loaded through the proxy (by subdomain and by path) in headless Chromium; a user who is not
a member of the project is refused.

Chromium resolves ``*.localhost`` to the loopback address, so the server runs as
``http://localhost:<port>`` and apps are at ``http://<subdomain>.localhost:<port>/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.conftest import PASSWORD
from tests.proxy import fixtures
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

from lakeworks.config import Settings
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.services import applications, users
from lakeworks.services.applications import AppFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

# Fixtures shared by the application tests (see tests/proxy/fixtures.py).
app_owner = fixtures.app_owner
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
wait_app = fixtures.wait_app


pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

Wait = Callable[..., Application]


@pytest.fixture
def server_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def app_settings(settings: Settings, server_socket: socket.socket) -> Settings:
    from tests.scheduler.conftest import RUNTIME_CACHE

    port = server_socket.getsockname()[1]
    return settings.model_copy(
        update={
            "runtimes_dir": RUNTIME_CACHE,
            "public_url": f"http://localhost:{port}",
            "app_start_timeout_seconds": 90.0,
            "app_path_routing": True,  # off by default; this test opens both forms
        }
    )


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
def base(lw_app: FastAPI, app_settings: Settings, server_socket: socket.socket) -> Iterator[str]:
    config = uvicorn.Config(lw_app, log_level="warning", ws="websockets")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [server_socket]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield app_settings.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/projects")


def test_flask_and_streamlit_through_the_proxy_and_outsiders_refused(
    browser: Browser,
    base: str,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    wait_app: Wait,
) -> None:
    users.create_user(app_platform, None, username="bob", password=PASSWORD, email="b@x.org")
    port = base.rsplit(":", 1)[1]
    page = new_page(browser)
    sign_in(page, base, "owner")

    # The Flask app, created from the form.
    page.goto(f"{base}/projects/{app_project.id}/applications")
    page.get_by_role("link", name="New application").first.click()
    page.locator("input[name=name]").fill("Hello Flask")
    page.locator("input[name=subdomain]").fill("hello")
    page.locator("input[name=script]").fill("flask_app.py")
    page.get_by_role("button", name="Create and start").click()
    expect(page.get_by_text("Application 'Hello Flask' is starting.")).to_be_visible()
    flask_app = applications.list_applications(app_platform, app_principal, app_project.id)[0]
    streamlit_app = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        AppFields(name="Churn dashboard", subdomain="dash", script="streamlit_app.py",
                  description="Streamlit"),
    )  # fmt: skip
    for app in (flask_app, streamlit_app):
        ready = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED}, timeout=180)
        assert ready.status is AppStatus.RUNNING, ready.reason

    # Cards show both apps running, with their addresses.
    page.goto(f"{base}/projects/{app_project.id}/applications")
    hello_card = page.locator("[data-app=hello]")
    expect(hello_card.get_by_text("Running")).to_be_visible()
    expect(hello_card.locator("[data-link=host]")).to_have_text(f"http://hello.localhost:{port}/")
    expect(page.locator("[data-app=dash]").get_by_text("Running")).to_be_visible()

    # Flask by subdomain: the session reaches the app host through the sign-in hop.
    page.goto(f"http://hello.localhost:{port}/")
    expect(page.get_by_role("heading", name="Hello from Flask")).to_be_visible()
    expect(page.locator("#user")).to_have_text("owner")
    # Flask by path.
    page.goto(f"{base}/apps/hello/")
    expect(page.get_by_role("heading", name="Hello from Flask")).to_be_visible()

    # Streamlit renders only once its websocket works through the proxy.
    page.goto(f"http://dash.localhost:{port}/")
    expect(page.get_by_role("heading", name="Churn dashboard")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("6 x 7 = 42")).to_be_visible()
    # By path, an app page is sandboxed to an opaque origin (issue 12, H4): its own requests
    # carry no Lakeworks sign-in, so a Streamlit app that is not public cannot connect its
    # websocket there. The page itself is served, with the sandbox.
    by_path = page.goto(f"{base}/apps/dash/")
    assert by_path is not None and by_path.status == 200
    assert "sandbox" in (by_path.headers.get("content-security-policy") or "")

    # Someone who is not a member of the project is refused, both ways.
    outsider = new_page(browser)
    sign_in(outsider, base, "bob")
    refused = outsider.goto(f"{base}/apps/hello/")
    assert refused is not None and refused.status == 404
    expect(outsider.get_by_text("Hello from Flask")).to_have_count(0)
    refused = outsider.goto(f"http://dash.localhost:{port}/")
    assert refused is not None and refused.status == 404
    expect(outsider.get_by_text("Churn dashboard")).to_have_count(0)
    # Nor can anyone who is not signed in.
    anonymous = new_page(browser)
    anonymous.goto(f"http://hello.localhost:{port}/")
    expect(anonymous).to_have_url(
        f"{base}/login?next=%2F_lakeworks%2Fauthorize%3Fnext%3Dhttp%253A%252F%252Fhello.localhost%253A{port}%252F"
    )

    # Stop both from the UI and the API.
    page.goto(f"{base}/projects/{app_project.id}/applications/{flask_app.id}")
    page.get_by_role("button", name="Stop").click()
    applications.stop(app_platform, app_principal, app_project.id, streamlit_app.id)
    for app in (flask_app, streamlit_app):
        wait_app(app.id, {AppStatus.STOPPED})

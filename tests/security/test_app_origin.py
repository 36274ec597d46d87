"""H4: applications cannot act as the people who open them (in Chromium, with a real app).

The review's attack: a contributor's app page, opened by a site admin, fetched a Lakeworks
page for its CSRF token and used the admin's cookie to make another user admin. Here the same
script runs in an app served both ways — by path (``/apps/evil/``, now off by default and,
when on, sandboxed by CSP to an opaque origin) and by host (``evil.localhost``, its own origin,
which never receives the Lakeworks cookie) — and must fail both times. The same script run in
Lakeworks' own origin succeeds, so the test would notice the protection going away.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
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

app_owner = fixtures.app_owner  # "owner": the app's author, a plain user
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
wait_app = fixtures.wait_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

# The attack, as a function of the Lakeworks origin to reach ("" = the page's own origin).
ATTACK_JS = """
async function attack(main) {
  const out = [];
  try {
    const home = await fetch(main + "/projects", {credentials: "include"});
    const text = await home.text();
    const m = text.match(/name="csrf-token" content="([^"]+)"/);
    if (!m) throw new Error("no CSRF token in the page (HTTP " + home.status + ")");
    const r = await fetch(main + "/api/v2/users/victim", {
      method: "PATCH", credentials: "include",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": m[1]},
      body: JSON.stringify({is_admin: true}),
    });
    out.push("patched " + r.status);
  } catch (e) {
    out.push("blocked: " + e);
  }
  try { out.push("cookie: " + document.cookie); } catch (e) { out.push("cookie: " + e.name); }
  return out.join("\\n");
}
"""

EVIL_APP = """
import html, os
from http.server import BaseHTTPRequestHandler, HTTPServer

ATTACK = __ATTACK__

class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        # By path: Lakeworks is this page's own origin; by host: the host after the label.
        main = ""
        if not self.headers.get("X-Forwarded-Prefix"):
            main = "http://" + self.headers["Host"].split(".", 1)[1]
        body = (
            "<!doctype html><html><body><h1>Evil app</h1><pre id=result>running</pre>"
            "<pre id=seen>" + html.escape(self.headers.get("Cookie", "")) + "</pre>"
            "<script>" + ATTACK + "attack(" + repr(main) + ").then(r => "
            "document.getElementById('result').textContent = r);</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        # The app tries to plant a Lakeworks session cookie too.
        self.send_header("Set-Cookie", "lakeworks_session=planted; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])), Page).serve_forever()
""".replace("__ATTACK__", repr(ATTACK_JS))


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
            "app_path_routing": True,  # to attack the path form too (off by default)
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
    server = uvicorn.Server(uvicorn.Config(lw_app, log_level="warning", ws="websockets"))
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


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/projects")


def attack_result(page: Page) -> str:
    result = page.locator("#result")
    expect(result).not_to_have_text("running", timeout=15_000)
    return result.inner_text()


def test_an_app_script_cannot_act_as_the_admin_who_opens_it(
    browser: Browser,
    base: str,
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    wait_app: Callable[..., Application],
) -> None:
    port = base.rsplit(":", 1)[1]
    users.create_user(app_platform, None, username="root", password=PASSWORD, is_admin=True)
    users.create_user(app_platform, None, username="victim", password=PASSWORD)

    def victim_is_admin() -> bool:
        return users.get_user(app_platform, app_principal, "victim").is_admin

    (app_platform.settings.projects_dir / app_project.id / "evil.py").write_text(EVIL_APP)
    evil = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        AppFields(name="Evil", subdomain="evil", script="evil.py"),
    )
    ready = wait_app(evil.id, {AppStatus.RUNNING, AppStatus.FAILED}, timeout=180)
    assert ready.status is AppStatus.RUNNING, ready.reason

    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_in(page, base, "root")

    # By path: the page is sandboxed to an opaque origin; the attack cannot read Lakeworks.
    response = page.goto(f"{base}/apps/evil/")
    assert response is not None and response.status == 200
    result = attack_result(page)
    assert "blocked" in result and "patched" not in result, result
    assert not victim_is_admin()
    policies = response.headers_array()
    sandbox = [h["value"] for h in policies if h["name"].lower() == "content-security-policy"]
    assert any(v.startswith("sandbox") and "allow-same-origin" not in v for v in sandbox)

    # By host: the app's own origin, reached through the sign-in hop.
    page.goto(f"http://evil.localhost:{port}/")
    expect(page).to_have_url(f"http://evil.localhost:{port}/")
    result = attack_result(page)
    assert "blocked" in result and "patched" not in result, result
    assert "lakeworks_session" not in page.locator("#seen").inner_text()
    assert not victim_is_admin()

    # The app's attempt to plant a session cookie reached no browser: the admin is still
    # signed in at Lakeworks with their own session.
    page.goto(f"{base}/projects")
    expect(page).to_have_url(f"{base}/projects")
    cookies = {c["name"]: c["value"] for c in context.cookies(base)}
    assert cookies.get("lakeworks_session") not in (None, "planted")

    # Issue 13: on a laptop (public URL on localhost) a browser that is not signed in goes
    # from the app host to the login form and, once signed in, on to the app (the form's CSP
    # `form-action` allows the hop to app hosts).
    fresh = browser.new_context()
    fresh.set_default_timeout(30_000)
    visitor = fresh.new_page()
    visitor.goto(f"http://evil.localhost:{port}/")
    expect(visitor).to_have_url(re.compile(re.escape(f"{base}/login?next=")))
    visitor.get_by_label("Username").fill("root")
    visitor.get_by_label("Password").fill(PASSWORD)
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor).to_have_url(f"http://evil.localhost:{port}/")
    expect(visitor.get_by_role("heading", name="Evil app")).to_be_visible()
    assert "blocked" in attack_result(visitor)
    fresh.close()

    # Control: the very same script in Lakeworks' own origin does make the victim admin, so
    # the refusals above come from the protections, not from a broken attack.
    outcome = page.evaluate("(async () => {" + ATTACK_JS + "return await attack('');})()")
    assert "patched 200" in outcome, outcome
    assert victim_is_admin()

    # Signing out on the main host ends the app host's session too (M2): the app host sends
    # the browser back to sign in instead of serving the page.
    page.goto(f"{base}/projects")
    page.get_by_label("Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"http://evil.localhost:{port}/")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login?next=")))
    context.close()


def test_path_routing_is_off_by_default(settings: Settings, store: Store) -> None:
    from lakeworks.app import create_app

    assert Settings().app_path_routing is False
    with TestClient(create_app(settings, store)) as client:
        answer = client.get("/apps/evil/")
        # The main app answers (its 404), not the proxy's "No application" refusal.
        assert answer.status_code == 404 and "No application" not in answer.text

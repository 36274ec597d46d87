"""M4: security headers on every response; the UI, MLflow's UI and the API docs still work
under the Content-Security-Policy in Chromium (no CSP violation in the console)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from starlette.types import Receive, Scope, Send
from tests.conftest import login
from tests.tracking.fixtures import tracking_settings
from tests.ui.test_ui_browser import sign_in

from lakeworks.api.headers import APP_SANDBOX, SecurityHeaders
from lakeworks.app import create_app
from lakeworks.config import Settings
from lakeworks.entities.experiments import Metric
from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store


def _assert_protected(headers: httpx.Headers, *, https: bool = False) -> None:
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert ("strict-transport-security" in headers) is https


def test_every_kind_of_response_carries_the_headers(
    client: TestClient, admin: User, api_headers: Callable[[User], dict[str, str]]
) -> None:
    responses = [
        client.get("/login"),  # a UI page
        client.get("/projects", follow_redirects=False),  # a redirect
        client.get("/static/app.css"),  # a static file
        client.get("/api/v2/projects", headers=api_headers(admin)),  # the API
        client.get("/api/v2/projects"),  # an API error
        client.get("/no/such/page"),  # 404
        client.post("/model", json={}),  # the model gateway's refusal
        client.get("/mlflow/"),  # MLflow's UI (sign-in redirect)
    ]
    for response in responses:
        _assert_protected(response.headers)


def test_any_page_can_no_longer_be_framed_by_another_site(client: TestClient, admin: User) -> None:
    login(client, "root")
    page = client.get("/projects")
    assert page.status_code == 200
    # The review framed the projects page from another origin: both the CSP and the legacy
    # header now refuse any ancestor but Lakeworks itself.
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN"


def test_hsts_only_when_the_public_url_is_https(settings: Settings, store: Store) -> None:
    with TestClient(create_app(settings, store)) as plain:
        _assert_protected(plain.get("/login").headers, https=False)
    secure = settings.model_copy(update={"public_url": "https://ml.example.org"})
    with TestClient(create_app(secure, store), base_url="https://ml.example.org") as tls:
        response = tls.get("/login")
        _assert_protected(response.headers, https=True)
        assert response.headers["strict-transport-security"].startswith("max-age=")


def test_api_docs_allow_only_their_own_inline_script(client: TestClient) -> None:
    docs = client.get("/api/v2/docs")
    csp = docs.headers["content-security-policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "'sha256-" in script_src and "unsafe-inline" not in script_src
    assert docs.headers["x-content-type-options"] == "nosniff"


# --- in Chromium --------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def _csp_violations(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e or "Refused to" in e]


@pytest.mark.browser
def test_ui_mlflow_and_docs_run_under_the_policy_in_chromium(
    page: Page,
    live_server: str,
    platform: Platform,
    make_user: Callable[..., User],
    console_errors: Callable[[Page], list[str]],
) -> None:
    errors = console_errors(page)
    alice = make_user("alice")
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Churn", source=projects.parse_source("", "")
    )
    experiment = experiments.create_experiment(platform, principal, project.id, "churn-exp")
    for number, rmse in enumerate([0.9, 0.4]):
        run = experiments.create_run(
            platform, principal, project.id, experiment.id, name=f"run-{number}"
        )
        experiments.log_batch(
            platform,
            principal,
            project.id,
            experiment.id,
            run.id,
            metrics=[Metric("rmse", rmse, int(time.time() * 1000), 0)],
            params={"alpha": str(number)},
            tags={},
        )

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}")
    expect(page.get_by_role("heading", name="Churn").first).to_be_visible()
    # A page driven by scripts: compare runs draws its chart with uPlot (static/plots.js).
    page.goto(f"{live_server}/projects/{project.id}/experiments/{experiment.id}")
    for box in page.get_by_role("checkbox").all():
        box.check()
    page.get_by_role("button", name="Compare selected runs").click()
    expect(page.locator("#compare-chart canvas")).to_be_visible()

    page.goto(f"{live_server}/mlflow/#/experiments/{experiment.id}")
    expect(page.get_by_text("run-1").first).to_be_visible(timeout=30_000)

    page.goto(f"{live_server}/api/v2/docs")
    # Swagger UI's script ran (it rendered its container). The packaged swagger-ui-bundle
    # predates OpenAPI 3.1 and says so there: a separate problem, not one of the policy.
    expect(page.locator("#swagger-ui .swagger-ui")).to_be_attached(timeout=30_000)

    assert _csp_violations(errors) == [], errors


# --- what relayed responses get ---------------------------------------------------------


async def _app_with_its_own_policy(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for what the proxy relays: an app or JupyterLab with its own CSP."""
    headers = [
        (b"content-type", b"text/html"),
        (b"content-security-policy", b"frame-ancestors 'self'; report-uri /csp"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"<h1>app</h1>"})


def _headers_for(settings: Settings, path: str, host: str = "testserver") -> httpx.Headers:
    wrapped = SecurityHeaders(_app_with_its_own_policy, settings=settings)
    # Not entered as a context: that would run a lifespan this stand-in does not speak.
    return TestClient(wrapped, base_url=f"http://{host}").get(path).headers


def test_relayed_apps_and_jupyterlab_keep_their_own_policy(settings: Settings) -> None:
    for path, host in (("/", "demo.testserver"), ("/sessions/abc/lab", "testserver")):
        headers = _headers_for(settings, path, host)
        assert headers.get_list("content-security-policy") == [
            "frame-ancestors 'self'; report-uri /csp"
        ]
        assert "x-frame-options" not in headers
        assert headers["x-content-type-options"] == "nosniff"


def test_path_routed_apps_are_sandboxed_beside_their_own_policy(settings: Settings) -> None:
    on = settings.model_copy(update={"app_path_routing": True})
    policies = _headers_for(on, "/apps/demo/").get_list("content-security-policy")
    assert policies[0] == "frame-ancestors 'self'; report-uri /csp"
    assert policies[1] == APP_SANDBOX
    assert (
        policies[1].startswith("sandbox allow-scripts") and "allow-same-origin" not in APP_SANDBOX
    )


def test_only_mlflows_ui_may_evaluate_strings(client: TestClient) -> None:
    mlflow = client.get("/mlflow/", follow_redirects=False).headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-eval'" in mlflow
    for path in ("/login", "/static/app.js", "/api/v2/projects"):
        assert "unsafe-eval" not in client.get(path).headers["content-security-policy"]

"""The ASGI application: ``create_app(settings)`` wires settings, store, routers and UI."""

from __future__ import annotations

import logging
import threading
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from lakeworks import __version__
from lakeworks.api import errors as api_errors
from lakeworks.api import openapi as api_openapi
from lakeworks.api.bodies import LenientJsonBodies
from lakeworks.api.headers import SecurityHeaders, inline_script_policy
from lakeworks.api.iceberg_rest import router as iceberg_router
from lakeworks.api.limits import BodySizeLimit
from lakeworks.api.routes import router as api_router
from lakeworks.api.v1 import router as v1_router
from lakeworks.config import Settings, check_secret_key
from lakeworks.data.metastore import MetastoreUnavailable
from lakeworks.errors import LakeworksError
from lakeworks.metrics.writer import MetricsWriter
from lakeworks.proxy import sessions as session_proxy
from lakeworks.proxy.forward import close_http_client
from lakeworks.proxy.hosts import ProxyRouter
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import users
from lakeworks.services.auth import SetupToken
from lakeworks.services.platform import Platform
from lakeworks.serving.gateway import ModelGateway, gateway_for
from lakeworks.store.uow import Store
from lakeworks.tracking import MOUNT_PATH as MLFLOW_PATH
from lakeworks.tracking.gate import TrackingGate
from lakeworks.ui import pages as ui_pages
from lakeworks.ui.routes import router as ui_router
from lakeworks.web.auth import SESSION_COOKIE

if typing.TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("lakeworks")


def _build_default_runtime(platform: Platform) -> None:
    """Start building the default runtime in the background (never blocks start-up), so the
    first job, session or app of a new install usually finds it ready."""
    try:
        python = platform.runtimes.default_python()
        if platform.runtimes.build_in_background(python):
            log.info("building the default runtime (Python %s) in the background", python)
    except LakeworksError as exc:
        log.warning("cannot build the default runtime: %s", exc.message)


def _start_metastore(platform: Platform) -> None:
    """Start the shared Spark metastore (a JVM: seconds) off the start-up path; until it
    answers, and where it cannot run, workloads' Spark embeds Derby as before."""
    try:
        platform.metastore.start()
        log.info("Spark metastore (Derby network server) on port %s", platform.metastore.port)
    except MetastoreUnavailable as exc:
        log.warning("no shared Spark metastore: %s", exc)


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the application. Refuses insecure settings and an unmigrated database."""
    settings = check_secret_key(settings)
    store = store or Store.from_url(settings.resolved_database_url)
    store.check_migrated()
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings, store)
    setup_token = SetupToken()
    metrics_writer = MetricsWriter(store)  # gateway records, batched off the request path

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not users.admin_exists(platform):
            secret = setup_token.issue()
            # Printed, not logged to a file: it is a one-time credential for the operator.
            print(
                "\nNo administrator exists yet. Open "
                f"{settings.base_url}/setup and enter this one-time setup secret:\n\n"
                f"    {secret}\n\n"
                "(or run `lakeworks admin create-user NAME --admin`).\n",
                flush=True,
            )
        scheduler = Scheduler(platform) if settings.scheduler_enabled else None
        if scheduler is not None:
            scheduler.start()
        app.state.scheduler = scheduler
        if scheduler is not None and settings.build_default_runtime:
            # Off the event loop: even finding the host's interpreters takes a moment.
            threading.Thread(
                target=_build_default_runtime, args=(platform,), name="runtime-default", daemon=True
            ).start()
        if scheduler is not None and settings.spark_metastore == "shared":
            threading.Thread(
                target=_start_metastore, args=(platform,), name="spark-metastore", daemon=True
            ).start()
        metrics_writer.start()
        try:
            yield
        finally:
            platform.metastore.close()
            metrics_writer.stop()
            await close_http_client()
            if scheduler is not None:
                scheduler.stop()
            platform.close()

    app = FastAPI(
        title="Lakeworks API v2",
        version=__version__,
        description="CML-compatible API v2 of Lakeworks. Authenticate with "
        "`Authorization: Bearer <API key>`; create keys under User settings → API keys.",
        openapi_url="/api/v2/openapi.json",
        docs_url=None,  # served below from packaged assets, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.platform = platform
    platform.model_caller = gateway_for(platform)  # the Test tab calls models through it
    app.state.settings = settings
    app.state.setup_token = setup_token
    app.state.metrics = metrics_writer

    app.mount(
        "/api/v2/docs-assets",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-assets",
    )

    @app.get("/api/v2/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/api/v2/openapi.json",
            title="Lakeworks API v2",
            swagger_js_url="/api/v2/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/v2/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/logo.svg",
        )
        # Swagger UI starts from one inline script: allowed by its hash, nothing else inline.
        page.headers["content-security-policy"] = inline_script_policy(bytes(page.body).decode())
        return page

    @app.get("/api/v2/swagger.json", include_in_schema=False)
    def swagger_json() -> dict[str, object]:
        # CML clients look for the document under this name.
        return app.openapi()

    api_errors.install(app, ui_pages.error_page)
    api_openapi.install(app)
    app.include_router(api_router, prefix="/api/v2")
    app.include_router(v1_router, prefix="/api/v1")
    # Each project's Iceberg REST catalog, for workloads (pyiceberg's RestCatalog, Spark).
    app.include_router(iceberg_router)
    app.include_router(ui_router)
    # /sessions/<id>/...: each session's Jupyter server, behind Lakeworks' sign-in.
    app.router.routes.extend(session_proxy.routes())
    static = resources.files("lakeworks.ui") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    # Embedded MLflow (tracking REST API and UI) behind Lakeworks' auth and project scoping.
    app.mount(MLFLOW_PATH, TrackingGate(platform), name="mlflow")

    # `curl -d '{...}'` without a JSON content type, as CML accepts it (api/bodies.py).
    app.add_middleware(LenientJsonBodies)
    # Applications and engine ports (by host and /apps/<subdomain>/), inside the session
    # middleware so the browser session is known; authorisation is in services.applications.
    app.add_middleware(ProxyRouter, platform=platform)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.https,
        # A real domain here shares the sign-in with `*.<domain>` apps (see proxy.hosts).
        domain=settings.session_cookie_domain or None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # Model calls (POST /model) are answered first, before sessions and the upload limit.
    app.add_middleware(ModelGateway, platform=platform)
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: every response
    return app


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """How ``lakeworks server`` runs ``app`` (the benchmarks run it the same way).

    Example::

        uvicorn.Server(server_config(create_app(settings), settings)).run()
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=True,
        server_header=False,
    )

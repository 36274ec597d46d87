"""Security headers on every HTTP response.

Lakeworks' own responses (UI, API, embedded MLflow, API docs, static files, model gateway) get
a Content-Security-Policy that only allows the site's own scripts (MLflow's UI bundle also
needs ``'unsafe-eval'``), may only be framed by the
site itself (``frame-ancestors 'self'`` and ``X-Frame-Options: SAMEORIGIN``), are never
content-sniffed, send no referrer to other sites, and carry HSTS when the public URL is https.
A route may send its own policy (the API docs page does, for its one inline script).

Responses Lakeworks only relays — applications on their own host, JupyterLab under
``/sessions/<id>/`` — keep their own policy and framing rules (JupyterLab has its own CSP;
apps may embed themselves); they get only the headers they did not set themselves. A
path-routed application (``/apps/<subdomain>/``, ``LAKEWORKS_APP_PATH_ROUTING``) shares
Lakeworks' origin, so its pages also get ``Content-Security-Policy: sandbox ...`` without
``allow-same-origin``: the browser gives them an opaque origin, and the app's scripts can
neither read Lakeworks pages nor call its API with the viewer's cookie.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks.config import Settings
from lakeworks.entities.models import MODEL_SERVICE_HOST

APPS_PREFIX = "/apps/"
JUPYTER_PREFIX = "/sessions/"
MLFLOW_PREFIX = "/mlflow/"  # tracking.MOUNT_PATH: the embedded MLflow UI

# Everything a sandboxed app page may still do, short of its own origin.
APP_SANDBOX = (
    "sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox "
    "allow-modals allow-downloads"
)


def ui_policy(settings: Settings, *, allow_eval: bool = False) -> str:
    """The CSP of Lakeworks' own pages (``allow_eval`` for MLflow's UI bundle, which builds
    functions from strings; it still runs only the site's own script files)."""
    scheme = "https" if settings.https else "http"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-eval'" if allow_eval else "script-src 'self'",
            # Inline styles only (style attributes, the workbench's srcdoc output frames);
            # scripts stay limited to the site's own files.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-src 'self'",
            "frame-ancestors 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            # The sign-in form may continue to an application's host (proxy.hosts' hop).
            f"form-action 'self' {scheme}://*.{settings.domain}",
        ]
    )


def inline_script_policy(html: str) -> str:
    """A CSP for a page of ours with fixed inline scripts: those scripts by hash, nothing else."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    ]
    return (
        f"default-src 'self'; script-src 'self' {' '.join(hashes)}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; "
        "object-src 'none'; base-uri 'self'"
    )


class SecurityHeaders:
    """ASGI middleware adding the headers above; outermost, so every response passes it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.own = [
            ("content-security-policy", ui_policy(settings)),
            ("x-frame-options", "SAMEORIGIN"),
        ]
        self.mlflow = [
            ("content-security-policy", ui_policy(settings, allow_eval=True)),
            ("x-frame-options", "SAMEORIGIN"),
        ]
        self.common = [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ]
        if settings.https:
            self.common.append(("strict-transport-security", "max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self._kind(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if kind in ("own", "mlflow"):
                    for name, value in self.own if kind == "own" else self.mlflow:
                        headers.setdefault(name, value)
                elif kind == "app_path":
                    # Added beside the app's own policy: browsers enforce both.
                    headers.append("content-security-policy", APP_SANDBOX)
                for name, value in self.common:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _kind(self, scope: Scope) -> str:
        """``own``, ``mlflow``, ``relayed`` (an app host, JupyterLab) or ``app_path``."""
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").strip().lower().rstrip(".")
                break
        suffix = "." + self.settings.domain.lower()
        if host.endswith(suffix) and host[: -len(suffix)] not in ("", MODEL_SERVICE_HOST):
            return "relayed"
        path: str = scope["path"]
        if path.startswith(APPS_PREFIX) and self.settings.app_path_routing:
            return "app_path"
        if path.startswith(JUPYTER_PREFIX):
            return "relayed"
        if path.startswith(MLFLOW_PREFIX):
            return "mlflow"
        return "own"

"""Rendering pages: the template environment, the context every page gets, flash messages and
the error page the application's error handler shows to browsers."""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from lakeworks import __version__
from lakeworks.entities.users import User
from lakeworks.errors import LakeworksError, NotFound, Unauthenticated, http_status
from lakeworks.services import auth
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import allowed, refusal
from lakeworks.ui.filters import FILTERS
from lakeworks.web.auth import session_principal

_TEMPLATE_DIR = resources.files("lakeworks.ui") / "templates"
# Starlette's Jinja2Templates turns autoescaping on for every template.
templates = Jinja2Templates(directory=str(_TEMPLATE_DIR))
templates.env.filters.update(FILTERS)

templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

FLASH_KEY = "flash"


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def start_session(request: Request, user: User) -> None:
    """Sign a browser in; a fresh session and token, so a planted cookie gains nothing."""
    request.session.clear()
    request.session.update(auth.session_data(user))
    request.session["csrf"] = secrets.token_urlsafe(32)


def flash(request: Request, message: str, kind: str = "success") -> None:
    """A message shown once on the next page rendered (after a POST-redirect-GET)."""
    messages = list(request.session.get(FLASH_KEY, []))
    messages.append([kind, message])
    request.session[FLASH_KEY] = messages


def redirect(url: str, *, query: dict[str, str] | None = None) -> RedirectResponse:
    if query:
        url = f"{url}?{urlencode(query)}"
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, default: str = "/projects") -> str:
    """Only same-site paths: a login link must not bounce people to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    """Render ``template`` inside the layout, with the signed-in user and pending messages."""
    principal: Principal | None = getattr(request.state, "principal", None)
    messages = request.session.pop(FLASH_KEY, []) if "session" in request.scope else []
    if error:
        messages = [*messages, ["error", error]]
    page: dict[str, Any] = {
        "user": principal.user if principal else None,
        "is_admin": bool(principal and principal.is_admin),
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "flashes": messages,
        "nav": "",
        "setup_active": request.app.state.setup_token.active,
        # An explicit, visible choice (issue 12): admins are told on every page.
        "unsandboxed": bool(
            principal and principal.is_admin and request.app.state.settings.sandbox == "none"
        ),
    }
    page.update(context or {})
    return templates.TemplateResponse(request, template, page, status_code=status)


def fragment(template: str, context: dict[str, Any]) -> str:
    """A partial template rendered alone (no layout), for a page's script to swap in when it
    refreshes itself."""
    return templates.env.get_template(template).render(context)


def form_error(request: Request, exc: LakeworksError) -> None:
    """Re-raise errors a form cannot help with (not found, forbidden, signed out).

    The rest (bad input, conflicts, too large) are shown on the form itself, keeping what the
    person typed.
    """
    if http_status(exc) in (401, 403, 404):
        raise exc


def error_page(request: Request, exc: LakeworksError) -> Response:
    """What a browser sees for an error: a sign-in redirect, or a page saying what went wrong."""
    if isinstance(exc, Unauthenticated):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            # A form posted after the login expired: come back to the page that held it.
            referer = urlsplit(request.headers.get("referer", ""))
            target = referer.path + (f"?{referer.query}" if referer.query else "")
        return RedirectResponse(f"/login?next={quote(safe_next(target), safe='')}", 303)
    if "session" in request.scope and getattr(request.state, "principal", None) is None:
        request.state.principal = session_principal(request, platform_of(request))
    status = http_status(exc)
    titles = {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        429: "Limit reached",
    }
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": titles.get(status, "Something went wrong"),
            "message": exc.message,
            "not_found": isinstance(exc, NotFound),
        },
        status=status,
    )


def runtime_options(request: Request, current: str = "") -> list[dict[str, Any]]:
    """The runtime picker's choices (every form that starts a workload uses the same one):
    the default first (value ""), one row per Python and edition of the catalog (Standard,
    Lean) with its kernel, edition, version and whether a first use still builds it, and
    ``current`` kept when it names a runtime outside the list (an identifier given through the
    API, e.g. Cloudera's)."""
    runtimes = platform_of(request).runtimes
    try:
        default = runtimes.catalog.default()
        rows = [r for r in runtimes.catalog.runtimes if r.editor == "Workbench"]
    except LakeworksError:
        return [{"value": "", "label": "Default runtime", "disabled": False, "note": ""}]
    built = {row.key: runtimes.is_built(row.key) for row in rows if row.status == "ENABLED"}

    def note(key: str) -> str:
        return "" if built.get(key) else "first use builds it, about 2 minutes"

    options = [
        {
            "value": "",
            "label": f"Default — {default.kernel} · {default.edition} · {default.full_version}",
            "disabled": False,
            "note": note(default.key),
        }
    ]
    for row in rows:
        usable = row.status == "ENABLED"
        options.append(
            {
                "value": row.image_identifier,
                "label": f"{row.kernel} · {row.edition} · {row.full_version}",
                "disabled": not usable,
                "note": note(row.key) if usable else row.description,
            }
        )
    current = (current or "").strip()
    if current and current not in {option["value"] for option in options}:
        # Given through the API (a Cloudera identifier, another editor's row): kept as it is.
        options.append({"value": current, "label": current, "disabled": False, "note": "as given"})
    return options


templates.env.globals.update(
    Action=Action,
    allowed=allowed,
    refusal=refusal,
    version=__version__,
    runtime_options=runtime_options,
)

"""Signing in and out, and the one-time setup page that creates the first administrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks.errors import InvalidInput, LakeworksError, NotFound, RateLimited, http_status
from lakeworks.services import auth, users
from lakeworks.services.passwords import check_new_password
from lakeworks.ui.deps import FormUserDep, PlatformDep
from lakeworks.ui.pages import flash, redirect, render, safe_next, start_session
from lakeworks.web.auth import check_csrf, session_principal

router = APIRouter()


@router.get("/")
def home(request: Request, platform: PlatformDep) -> Response:
    if session_principal(request, platform) is not None:
        return redirect("/projects")
    if request.app.state.setup_token.active:
        return redirect("/setup")
    return redirect("/login")


@router.get("/login")
def login_form(request: Request, platform: PlatformDep, next: str = "") -> Response:
    if session_principal(request, platform) is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login")
def login(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    # The login form carries a token too, so another site cannot sign a browser in as itself.
    check_csrf(request, csrf_token)
    address = request.client.host if request.client else ""
    try:
        user = auth.login(platform, username, password, address)
    except LakeworksError as exc:
        page = render(
            request,
            "login.html",
            {"next": safe_next(next), "username": username},
            status=http_status(exc),
            error=exc.message,
        )
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    start_session(request, user)
    return redirect(safe_next(next))


@router.post("/logout")
def logout(request: Request, platform: PlatformDep, principal: FormUserDep) -> Response:
    auth.logout(platform, principal)
    request.session.clear()
    flash(request, "You are signed out.")
    return redirect("/login")


def _require_setup(request: Request, platform: PlatformDep) -> None:
    if not request.app.state.setup_token.active or users.admin_exists(platform):
        raise NotFound("Lakeworks is already set up; sign in instead.")


@router.get("/setup")
def setup_form(request: Request, platform: PlatformDep) -> Response:
    _require_setup(request, platform)
    return render(request, "setup.html", {"form": {}})


@router.post("/setup")
def setup(
    request: Request,
    platform: PlatformDep,
    secret: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    _require_setup(request, platform)
    check_csrf(request, csrf_token)
    form = {"username": username, "name": name, "email": email}
    try:
        # Check the input before spending the one-time secret on it.
        users.validate_username(username)
        check_new_password(password, username)
        if password != password_again:
            raise InvalidInput("The two passwords differ.")
        user = users.setup_first_admin(
            platform,
            request.app.state.setup_token,
            secret.strip(),
            username=username,
            password=password,
            name=name,
            email=email,
        )
    except LakeworksError as exc:
        return render(
            request, "setup.html", {"form": form}, status=http_status(exc), error=exc.message
        )
    start_session(request, user)
    flash(request, f"Welcome, {user.name}. You are the first administrator of this Lakeworks.")
    return redirect("/projects")

"""User settings: profile, password, and API keys (the secret is shown once, on creation)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks.entities.users import ApiKey
from lakeworks.errors import InvalidInput, LakeworksError, http_status
from lakeworks.services import auth, users
from lakeworks.services.auth import NewApiKey
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render, start_session

router = APIRouter()


@router.get("/settings")
def profile(request: Request, principal: UserDep) -> Response:
    return render(request, "account/profile.html", {"nav": "settings", "tab": "profile"})


@router.post("/settings/profile")
def update_profile(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    try:
        users.update_profile(platform, principal, name=name, email=email)
    except LakeworksError as exc:
        return render(
            request,
            "account/profile.html",
            {"nav": "settings", "tab": "profile"},
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, "Your profile was saved.")
    return redirect("/settings")


@router.post("/settings/password")
def change_password(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    new_again: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new != new_again:
            raise InvalidInput("The two new passwords differ.")
        user = auth.change_password(platform, principal, current, new)
    except LakeworksError as exc:
        # A wrong current password is refused (403) but belongs on this form all the same.
        return render(
            request,
            "account/profile.html",
            {"nav": "settings", "tab": "profile"},
            status=http_status(exc),
            error=exc.message,
        )
    # Every earlier session ended with the change; this browser gets a new one.
    start_session(request, user)
    flash(request, "Your password was changed. Your other sign-ins were ended.")
    return redirect("/settings")


def key_status(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _keys_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    *,
    created: NewApiKey | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    keys = auth.list_api_keys(platform, principal, principal.user.username)
    now = datetime.now(UTC)
    # Workload keys are made and revoked by the platform; people manage their own keys here.
    rows = [(k, key_status(k, now)) for k in keys if k.project_id is None]
    rows.sort(key=lambda row: (row[1] != "active", -row[0].created_at.timestamp()))
    return render(
        request,
        "account/api_keys.html",
        {
            "nav": "settings",
            "tab": "keys",
            "rows": rows,
            "created": created,
            "form": form or {},
            "today": now.date().isoformat(),
        },
        status=status,
        error=error or None,
    )


@router.get("/settings/api-keys")
def api_keys(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    return _keys_page(request, platform, principal)


def parse_expiry(value: str) -> datetime | None:
    """An ``<input type=date>`` value: the key works until the end of that day (UTC)."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (use YYYY-MM-DD).") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


@router.post("/settings/api-keys")
def create_api_key(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
) -> Response:
    try:
        created = auth.create_api_key(
            platform,
            principal,
            principal.user.username,
            name=name,
            expires_at=parse_expiry(expires),
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _keys_page(
            request,
            platform,
            principal,
            form={"name": name, "expires": expires},
            status=http_status(exc),
            error=exc.message,
        )
    # Rendered, not redirected: the secret exists only in this response and is never stored.
    response = _keys_page(request, platform, principal, created=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_api_key(
    request: Request, platform: PlatformDep, principal: FormUserDep, key_id: int
) -> Response:
    auth.revoke_api_key(platform, principal, principal.user.username, key_id)
    flash(request, "The key was revoked; programs using it can no longer sign in.")
    return redirect("/settings/api-keys")

"""Site administration: user accounts, resource profiles and quotas, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks import bounds
from lakeworks.errors import LakeworksError, http_status
from lakeworks.services import audit, auth, resources, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import AdminDep, FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

AUDIT_PAGE_SIZE = 50


@router.get("/admin")
def admin_home(principal: AdminDep) -> Response:
    return redirect("/admin/users")


def _users_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    *,
    q: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    return render(
        request,
        "admin/users.html",
        {
            "nav": "admin",
            "tab": "users",
            "people": users.list_users(platform, principal, q.strip()),
            "q": q,
            "form": form or {},
        },
        status=status,
        error=error or None,
    )


@router.get("/admin/users")
def user_list(
    request: Request, platform: PlatformDep, principal: AdminDep, q: str = ""
) -> Response:
    return _users_page(request, platform, principal, q=q)


@router.post("/admin/users")
def create_user(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    username: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    is_admin: Annotated[bool, Form()] = False,
) -> Response:
    try:
        user = users.create_user(
            platform,
            principal,
            username=username,
            password=password,
            name=name,
            email=email,
            is_admin=is_admin,
        )
    except LakeworksError as exc:
        form_error(request, exc)
        form = {
            "username": username,
            "name": name,
            "email": email,
            "is_admin": "1" if is_admin else "",
        }
        return _users_page(
            request, platform, principal, form=form, status=http_status(exc), error=exc.message
        )
    flash(request, f"User {user.username} created.")
    return redirect("/admin/users")


@router.post("/admin/users/{username}")
def update_user(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    username: str,
    is_admin: Annotated[bool | None, Form()] = None,
    is_active: Annotated[bool | None, Form()] = None,
) -> Response:
    try:
        user = users.update_user(
            platform, principal, username, is_admin=is_admin, is_active=is_active
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _users_page(request, platform, principal, status=http_status(exc), error=exc.message)
    if is_admin is not None:
        flash(
            request,
            f"{user.username} is {'now' if user.is_admin else 'no longer'} a site administrator.",
        )
    if is_active is not None:
        flash(request, f"{user.username} is {'active' if user.is_active else 'deactivated'}.")
    return redirect("/admin/users")


@router.post("/admin/users/{username}/end-sessions")
def end_sessions(
    request: Request, platform: PlatformDep, principal: FormUserDep, username: str
) -> Response:
    try:
        auth.end_sessions(platform, principal, username)
    except LakeworksError as exc:
        form_error(request, exc)
        return _users_page(request, platform, principal, status=http_status(exc), error=exc.message)
    flash(request, f"{username} was signed out of every browser.")
    if username == principal.user.username:
        return redirect("/login")
    return redirect("/admin/users")


@router.get("/admin/audit")
def audit_log(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    actor: str = "",
    action: str = "",
    project: str = "",
    page: int = 1,
) -> Response:
    page = max(page, 1)
    events, total = audit.list_audit(
        platform,
        principal,
        actor=actor.strip() or None,
        action_prefix=action.strip() or None,
        project_id=project.strip() or None,
        offset=(page - 1) * AUDIT_PAGE_SIZE,
        limit=AUDIT_PAGE_SIZE,
    )
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render(
        request,
        "admin/audit.html",
        {
            "nav": "admin",
            "tab": "audit",
            "events": events,
            "total": total,
            "page": page,
            "pages": pages,
            "filters": {"actor": actor, "action": action, "project": project},
        },
    )


# Resource profiles and quotas -------------------------------------------------------------


def _resources_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    return render(
        request,
        "admin/resources.html",
        {
            "nav": "admin",
            "tab": "resources",
            "profiles": resources.profiles(platform, principal),
            "usage": resources.usage(platform, principal),
            "default_cpu": platform.settings.quota_cpu,
            "default_memory_mb": platform.settings.quota_memory_mb,
            "form": form or {},
        },
        status=status,
        error=error or None,
    )


@router.get("/admin/resources")
def resources_page(request: Request, platform: PlatformDep, principal: AdminDep) -> Response:
    return _resources_page(request, platform, principal)


@router.post("/admin/resources/profiles")
def add_profile(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    cpu: Annotated[float, Form()] = 0.0,
    memory_gb: Annotated[float, Form()] = 0.0,
    gpu: Annotated[int, Form()] = 0,
) -> Response:
    try:
        profile = resources.add_profile(
            platform, principal, name, cpu, bounds.memory_mb(memory_gb), gpu
        )
    except LakeworksError as exc:
        form_error(request, exc)
        form = {"name": name, "cpu": f"{cpu:g}", "memory_gb": f"{memory_gb:g}", "gpu": str(gpu)}
        return _resources_page(
            request, platform, principal, form=form, status=http_status(exc), error=exc.message
        )
    flash(request, f"Resource profile {profile.name} added.")
    return redirect("/admin/resources")


@router.post("/admin/resources/profiles/{profile_id}/delete")
def delete_profile(
    request: Request, platform: PlatformDep, principal: FormUserDep, profile_id: int
) -> Response:
    resources.delete_profile(platform, principal, profile_id)
    flash(request, "Resource profile deleted.")
    return redirect("/admin/resources")


@router.post("/admin/resources/quotas/{username}")
def set_quota(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    username: str,
    cpu: Annotated[float, Form()] = 0.0,
    memory_gb: Annotated[float, Form()] = 0.0,
    use_default: Annotated[bool, Form()] = False,
) -> Response:
    try:
        if use_default:
            resources.clear_quota(platform, principal, username)
            flash(request, f"{username} is on the default quota.")
        else:
            resources.set_quota(platform, principal, username, cpu, bounds.memory_mb(memory_gb))
            flash(request, f"{username}'s quota is {cpu:g} vCPU / {memory_gb:g} GiB.")
    except LakeworksError as exc:
        form_error(request, exc)
        return _resources_page(
            request, platform, principal, status=http_status(exc), error=exc.message
        )
    return redirect("/admin/resources")

"""Dependencies of UI routes: the signed-in person, and the CSRF check of every form post."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request

from lakeworks.errors import PermissionDenied, Unauthenticated
from lakeworks.services.platform import Platform, Principal
from lakeworks.web.auth import check_csrf, get_platform, session_principal


def page_user(request: Request) -> Principal:
    """The signed-in person; anyone else is sent to the login page (see ``pages.error_page``)."""
    principal = session_principal(request, get_platform(request))
    if principal is None:
        raise Unauthenticated("Sign in to continue.")
    request.state.principal = principal
    return principal


def form_user(request: Request, csrf_token: Annotated[str, Form()] = "") -> Principal:
    """The signed-in person posting a form that carries the session's CSRF token."""
    principal = page_user(request)
    check_csrf(request, csrf_token)
    return principal


def admin_user(principal: Annotated[Principal, Depends(page_user)]) -> Principal:
    # Only decides whether to show the admin pages; every admin action is checked again by
    # its service.
    if not principal.is_admin:
        raise PermissionDenied("Only site administrators can open the admin pages.")
    return principal


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserDep = Annotated[Principal, Depends(page_user)]
FormUserDep = Annotated[Principal, Depends(form_user)]
AdminDep = Annotated[Principal, Depends(admin_user)]

"""Request authentication: the caller, from an API key, a Basic v1 key or the session cookie."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from lakeworks.entities.users import ApiKeyKind
from lakeworks.errors import PermissionDenied, Unauthenticated
from lakeworks.services import auth
from lakeworks.services.platform import Platform, Principal

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The browser session's cookie (set by the session middleware in ``app.create_app``).
SESSION_COOKIE = "lakeworks_session"


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def principal_from_request(request: Request, platform: Platform) -> Principal | None:
    """The caller, or None when the request carries no credentials at all.

    Order: ``Authorization: Bearer <v2 key>``, ``Authorization: Basic <v1 key>:``, then the
    browser session cookie. A bad credential raises rather than falling back to the cookie.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return auth.authenticate_key(platform, value.strip(), ApiKeyKind.V2)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("The Basic authorization header is malformed.") from exc
        username, _, _password = decoded.partition(":")
        # CML's legacy scheme: the v1 key is the username, the password is empty.
        return auth.authenticate_key(platform, username, ApiKeyKind.V1)
    if header:
        raise Unauthenticated("Use 'Authorization: Bearer <API key>'.")
    return session_principal(request, platform)


def session_principal(request: Request, platform: Platform) -> Principal | None:
    """The browser session's user, while its cookie is valid (see ``auth.session_user``)."""
    session = request.session if "session" in request.scope else {}
    user_id = session.get("user_id")
    if user_id is None:
        return None
    bound = session.get("host")  # set on an application host's own session (proxy.hosts)
    if bound is not None and bound != request.headers.get("host", "").lower():
        return None
    user = auth.session_user(platform, user_id, session.get("gen"))
    if user is None:
        request.session.clear()
        return None
    return Principal(user=user, via="session")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token."""
    expected = request.session.get("csrf", "")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise PermissionDenied(
            "The form or request is missing its CSRF token (reload the page and try again)."
        )

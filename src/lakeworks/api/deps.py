"""The API's request dependencies (FastAPI ``Depends``): the platform and the caller.

Authentication itself is the web layer's (``lakeworks.web.auth``), shared with the UI, the
proxy and the embedded MLflow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lakeworks.errors import Unauthenticated
from lakeworks.services.platform import Platform, Principal
from lakeworks.web.auth import (
    UNSAFE_METHODS,
    check_csrf,
    get_platform,
    principal_from_request,
)


def require_principal(
    request: Request, platform: Annotated[Platform, Depends(get_platform)]
) -> Principal:
    principal = principal_from_request(request, platform)
    if principal is None:
        raise Unauthenticated("Sign in or send 'Authorization: Bearer <API key>'.")
    if principal.via == "session" and request.method in UNSAFE_METHODS:
        check_csrf(request, request.headers.get("x-csrf-token"))
    return principal


PlatformDep = Annotated[Platform, Depends(get_platform)]
PrincipalDep = Annotated[Principal, Depends(require_principal)]

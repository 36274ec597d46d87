"""One place that turns errors into responses: typed JSON for the API, pages for the UI."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from lakeworks.errors import (
    InvalidInput,
    LakeworksError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    error_body,
    http_status,
)

log = logging.getLogger(__name__)


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error") or err.get("msg", "")
            return f"The request body is not valid JSON: {reason}".rstrip(": ")
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(problems)


def _allowed_methods(request: Request) -> str:
    """The methods every route at this path answers (RFC 9110: a 405 carries ``Allow``).
    Starlette's own header names only the first route that matched the path, while a path such
    as ``/projects`` has one route for GET and another for POST."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI, error_page: Callable[[Request, LakeworksError], Response]) -> None:
    """Answer every error as JSON to API clients and as ``error_page`` (the UI's) to browsers."""

    async def lakeworks_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LakeworksError)
        if wants_json(request):
            headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else {}
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            return JSONResponse(error_body(exc), status_code=http_status(exc), headers=headers)
        page = error_page(request, exc)
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return await lakeworks_error(request, InvalidInput(_describe_validation(exc)))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        mapped: LakeworksError
        if exc.status_code == 404:
            mapped = NotFound(f"Nothing at {request.url.path}.")
        elif exc.status_code == 405:
            mapped = InvalidInput(f"{request.method} is not allowed on {request.url.path}.")
        elif exc.status_code in (401, 403):
            mapped = PermissionDenied(str(exc.detail))
        else:
            mapped = InvalidInput(str(exc.detail))
        response = await lakeworks_error(request, mapped)
        if exc.status_code == 405:
            response.status_code = 405
            response.headers["Allow"] = _allowed_methods(request)
        return response

    app.add_exception_handler(LakeworksError, lakeworks_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

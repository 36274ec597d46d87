"""One error hierarchy for Lakeworks, shared by the server and the SDK.

Every error carries a stable ``code``; ``HTTP_STATUS`` and ``GRPC_CODE`` map codes to the
HTTP status and the gRPC code that CML's API v2 puts in its error body. A service raises
these; the API and UI layers translate them once, in one handler each.
"""

from __future__ import annotations

from typing import Any


class LakeworksError(Exception):
    """Base of every error a user can cause or see."""

    code = "internal"

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(LakeworksError):
    code = "invalid_input"


class Unauthenticated(LakeworksError):
    code = "unauthenticated"


class PermissionDenied(LakeworksError):
    code = "permission_denied"


class NotFound(LakeworksError):
    code = "not_found"


class Conflict(LakeworksError):
    code = "conflict"


class InvalidState(LakeworksError):
    code = "invalid_state"


class QuotaExceeded(LakeworksError):
    code = "quota_exceeded"


class PayloadTooLarge(LakeworksError):
    code = "payload_too_large"


class RateLimited(LakeworksError):
    """Too many attempts: try again after ``retry_after`` seconds (HTTP ``Retry-After``)."""

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: int = 1, details: list[Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class InsecureSettings(LakeworksError):
    """Start-up refuses these settings."""

    code = "insecure_settings"


class DatabaseNotMigrated(LakeworksError):
    """The database schema is older (or newer) than this version of Lakeworks expects."""

    code = "database_not_migrated"


HTTP_STATUS: dict[str, int] = {
    InvalidInput.code: 400,
    Unauthenticated.code: 401,
    PermissionDenied.code: 403,
    NotFound.code: 404,
    Conflict.code: 409,
    InvalidState.code: 409,
    PayloadTooLarge.code: 413,
    QuotaExceeded.code: 429,
    RateLimited.code: 429,
    InsecureSettings.code: 500,
    DatabaseNotMigrated.code: 503,
    LakeworksError.code: 500,
}

# https://grpc.github.io/grpc/core/md_doc_statuscodes.html, as CML's API v2 error body uses.
GRPC_CODE: dict[str, int] = {
    InvalidInput.code: 3,
    NotFound.code: 5,
    Conflict.code: 6,
    PermissionDenied.code: 7,
    QuotaExceeded.code: 8,
    InvalidState.code: 9,
    PayloadTooLarge.code: 11,
    Unauthenticated.code: 16,
    LakeworksError.code: 13,
}

_BY_CODE: dict[str, type[LakeworksError]] = {
    cls.code: cls
    for cls in (
        LakeworksError,
        InvalidInput,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Conflict,
        InvalidState,
        QuotaExceeded,
        PayloadTooLarge,
    )
}


def http_status(error: LakeworksError) -> int:
    return HTTP_STATUS.get(error.code, 500)


def grpc_code(error: LakeworksError) -> int:
    return GRPC_CODE.get(error.code, 13)


def error_body(error: LakeworksError) -> dict[str, Any]:
    """The JSON body of an error response: CML's API v2 shape plus Lakeworks' own code."""
    return {
        "error": error.message,
        "code": grpc_code(error),
        "message": error.message,
        "details": error.details,
        "lakeworks_code": error.code,
    }


def from_body(status: int, body: dict[str, Any]) -> LakeworksError:
    """Rebuild the typed error from a response body (used by the SDK)."""
    cls = _BY_CODE.get(str(body.get("lakeworks_code", "")), LakeworksError)
    return cls(str(body.get("message") or body.get("error") or f"HTTP {status}"))

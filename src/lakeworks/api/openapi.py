"""The OpenAPI document states the statuses the API really answers. FastAPI documents 422 for
every operation with parameters, while Lakeworks answers invalid input with 400 and one error
body (``errors.error_body``) for every error."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error response: CML's API v2 shape plus Lakeworks' own code.",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string", "description": "What was wrong, for a person to read."},
        "code": {"type": "integer", "description": "The gRPC status code, as CML's API v2."},
        "details": {"type": "array", "items": {}},
        "lakeworks_code": {
            "type": "string",
            "description": "invalid_input, unauthenticated, permission_denied, not_found, "
            "conflict, invalid_state, quota_exceeded, payload_too_large, ...",
        },
    },
    "required": ["message", "code", "lakeworks_code"],
}

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite FastAPI's generated document in place: 422 → 400, and a ``default`` error."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = {
                    "description": "Invalid input; the message says what was wrong.",
                    "content": _ERROR,
                }
            responses.setdefault(
                "default",
                {"description": "Any other error (see lakeworks_code).", "content": _ERROR},
            )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    return schema


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point

"""/api/v2/runtimes (the catalog, CML's shape) and the runtimes' build state for site
administrators (a Lakeworks extension under /api/v2/admin/runtimes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.runtimes.manager import RuntimeState
from lakeworks.services import runtimes

router = APIRouter(tags=["runtimes"], route_class=StrictJSONRoute)


@router.get(
    "/runtimes", operation_id="list_runtimes", response_model=responses.ListRuntimesResponse
)
def list_runtimes(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, 100)
    rows = runtimes.catalog_rows(platform, parse_filter(params.search_filter))
    return {
        "runtimes": rows[page.offset : page.offset + page.size],
        "next_page_token": page.next_token(page.offset + page.size < len(rows)),
    }


@router.get(
    "/runtimeaddons",
    operation_id="list_runtime_addons",
    response_model=responses.ListRuntimeAddonsResponse,
)
def list_runtime_addons(principal: PrincipalDep) -> dict[str, Any]:
    # Spark is part of every runtime (``pyspark``); there is no add-on to choose.
    return {"runtime_addons": [], "next_page_token": ""}


def state_fields(state: RuntimeState) -> dict[str, Any]:
    return {
        "python_version": state.python,
        "edition": state.edition,
        "key": state.key,
        "full_version": state.full_version,
        "name": state.name,
        "state": state.state,
        "reason": state.reason,
        "size_bytes": state.size_bytes,
        "built_at": state.built_at,
        "is_default": state.is_default,
    }


@router.get(
    "/admin/runtimes",
    operation_id="list_runtime_builds",
    response_model=responses.ListRuntimeBuildsResponse,
)
def list_runtime_builds(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """Every runtime of this host and its build state; runtimes of earlier releases that are
    still on disk are listed under ``stale``."""
    rows = [state_fields(s) for s in runtimes.states(platform, principal)]
    stale = [path.name for path in runtimes.stale(platform, principal)]
    return {"runtimes": rows, "stale": stale}


@router.post(
    "/admin/runtimes/{python_version}/build",
    operation_id="build_runtime",
    response_model=responses.RuntimeBuild,
)
def build_runtime(
    platform: PlatformDep, principal: PrincipalDep, python_version: str
) -> dict[str, Any]:
    """Start building a runtime ahead of its first use (does nothing when it is built).
    ``python_version`` is ``3.11`` (Standard) or ``3.11-lean`` (another edition)."""
    return state_fields(runtimes.build(platform, principal, python_version))


@router.get(
    "/runtimes/builds/{python_version}/log",
    operation_id="get_runtime_build_log",
    response_model=responses.RuntimeBuildLog,
)
def get_runtime_build_log(
    platform: PlatformDep,
    principal: PrincipalDep,
    python_version: str,
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """The latest build's output from ``offset``; poll with ``next_offset`` while building."""
    text, next_offset, state = runtimes.build_log(platform, principal, python_version, offset)
    return {"text": text, "offset": offset, "next_offset": next_offset, **state_fields(state)}


@router.delete("/admin/runtimes/{name}", operation_id="remove_runtime", status_code=204)
def remove_runtime(platform: PlatformDep, principal: PrincipalDep, name: str) -> Response:
    """Delete a built runtime (``python3.11-<hash>``) that no running process uses."""
    runtimes.remove(platform, principal, name)
    return Response(status_code=204)

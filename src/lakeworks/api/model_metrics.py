"""/api/v2/modelmetrics/...: the model metrics store for workloads (compat §3.2, §4).

The in-workload ``cml.metrics_v1`` functions call these with
``Authorization: Bearer $CDSW_APIV2_KEY``:

- ``POST /api/v2/modelmetrics/read``
  ``{"model_deployment_crn"?, "model_crn"?, "model_build_crn"?, "start_timestamp_ms"?,
  "end_timestamp_ms"?}`` → ``{"metrics": [record, ...]}`` (records exactly as compat §4;
  start defaults to 0 and end to now; at least one CRN, or an id, is required).
- ``POST /api/v2/modelmetrics/trackDelayed``
  ``{"prediction_uuid": "...", "metrics": {...}}`` → the merged record. An unknown uuid is a
  404 whose message names it (the library raises ``ValueError``).
- ``POST /api/v2/modelmetrics/trackAggregate``
  ``{"model_deployment_crn": "...", "metrics": {...}, "start_timestamp_ms": ...,
  "end_timestamp_ms": ...}`` → the new record (``predictionUuid == ""``).

Reads need READ on the model's project; writes need the project's workload key or
contributor and above. Writes are visible to the next read (they are not queued).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Lenient
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.metrics.queries import record_json, render_read_metrics
from lakeworks.services import model_metrics

router = APIRouter(prefix="/modelmetrics", tags=["model metrics"], route_class=StrictJSONRoute)


class ReadIn(Lenient):
    model_deployment_crn: str | None = None
    model_crn: str | None = None
    model_build_crn: str | None = None
    start_timestamp_ms: Any = None
    end_timestamp_ms: Any = None


class DelayedIn(Lenient):
    prediction_uuid: Any = None
    metrics: Any = None


class AggregateIn(Lenient):
    model_deployment_crn: str | None = None
    metrics: Any = None
    start_timestamp_ms: Any = None
    end_timestamp_ms: Any = None


@router.post(
    "/read",
    response_model=responses.ReadMetricsResponse,
    summary="read_metrics: records of a deployment, build or model",
)
def read(body: ReadIn, platform: PlatformDep, principal: PrincipalDep) -> Response:
    records = model_metrics.read_metrics(
        platform,
        principal,
        model_deployment_crn=body.model_deployment_crn,
        model_crn=body.model_crn,
        model_build_crn=body.model_build_crn,
        start_timestamp_ms=body.start_timestamp_ms,
        end_timestamp_ms=body.end_timestamp_ms,
    )
    # Spliced, not re-encoded: 100k records stay fast (the stored metrics are JSON already).
    return Response(render_read_metrics(records), media_type="application/json")


@router.post(
    "/trackDelayed",
    response_model=responses.MetricsRecord,
    summary="track_delayed_metrics: merge into a prediction",
)
def track_delayed(
    body: DelayedIn, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    record = model_metrics.track_delayed(
        platform,
        principal,
        body.prediction_uuid,
        body.metrics,
        writer=getattr(request.app.state, "metrics", None),
    )
    return record_json(record)


@router.post(
    "/trackAggregate",
    response_model=responses.MetricsRecord,
    summary="track_aggregate_metrics: add a window record",
)
def track_aggregate(
    body: AggregateIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    record = model_metrics.track_aggregate(
        platform,
        principal,
        model_deployment_crn=body.model_deployment_crn,
        metrics=body.metrics,
        start_timestamp_ms=body.start_timestamp_ms,
        end_timestamp_ms=body.end_timestamp_ms,
    )
    return record_json(record)

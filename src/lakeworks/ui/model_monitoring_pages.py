"""A model's monitoring page: requests over time, latency p50/p95, errors and 429s, any
tracked metric over time, accuracy once delayed ground truth arrives, recent predictions.

``/projects/<project_id>/models/<model_id>/monitoring`` renders the page (charts drawn by
``static/plots.js``, uPlot, from JSON in the page); ``.../monitoring.json`` gives the same data for
the page's periodic refresh. Replica status and logs are on the model's own page.

The metric, prediction and ground-truth keys a person picks are remembered in their browser
session (per model, the newest ``REMEMBERED_MODELS``), so the next visit shows the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from lakeworks.errors import InvalidInput, NotFound
from lakeworks.metrics import drift
from lakeworks.services import model_drift, model_metrics, projects
from lakeworks.services.model_metrics import WINDOWS_MS, Monitoring
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import PlatformDep, UserDep
from lakeworks.ui.pages import fragment, render

router = APIRouter()

CHOICES = ("metric", "prediction_key", "truth_key")
CHOICES_SESSION_KEY = "monitoring_choices"
REMEMBERED_MODELS = 20
MAX_KEY_LENGTH = 200

WINDOW_LABELS = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
}


def _ms_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def charts(view: Monitoring) -> dict[str, dict[str, Any]]:
    """The options of each chart, as ``static/plots.js`` takes them (drawn with uPlot)."""
    r = view.requests
    per = "minute" if r.bucket_ms <= 60_000 else f"{r.bucket_ms // 60_000} min"
    out: dict[str, dict[str, Any]] = {
        "requests": {
            "series": [
                {"name": "requests", "points": r.requests},
                {"name": "errors", "points": r.errors, "color": "#c0352b"},
                {"name": "429 busy", "points": r.throttled, "color": "#d9730d"},
            ],
            "xTime": True,
            "yLabel": f"per {per}",
            "empty": "No requests in this window",
            "legend": True,
        },
        "latency": {
            "series": [
                {"name": "p50", "points": r.p50_ms},
                {"name": "p95", "points": r.p95_ms, "color": "#7b4bc4"},
            ],
            "xTime": True,
            "yLabel": "ms",
            "empty": "No requests in this window",
            "legend": True,
        },
    }
    if view.metric_key:
        out["metric"] = {
            "series": [
                {"name": view.metric_key, "points": view.metric_points, "dots": True},
                {
                    "name": f"mean per {per}",
                    "points": view.metric_means,
                    "color": "#1d7a46",
                    "dots": False,
                },
            ],
            "xTime": True,
            "yLabel": view.metric_key,
            "yZero": False,
            "empty": f"No value of {view.metric_key} in this window",
            "legend": True,
        }
    if view.accuracy is not None:
        out["accuracy"] = {
            "series": [{"name": "accuracy", "points": view.accuracy.points}],
            "xTime": True,
            "yMin": 0,
            "yMax": 1,
            "yLabel": "accuracy",
            "empty": "No prediction has ground truth yet",
        }
    return out


def summary(view: Monitoring) -> dict[str, Any]:
    r = view.requests
    accuracy = view.accuracy.overall if view.accuracy is not None else None
    return {
        "requests": r.total,
        "errors": r.total_errors,
        "throttled": r.total_throttled,
        "p50": _ms_text(r.p50_all_ms),
        "p95": _ms_text(r.p95_all_ms),
        "predictions": view.records_in_window,
        "labelled": view.accuracy.labelled if view.accuracy is not None else 0,
        "accuracy": None if accuracy is None else f"{accuracy:.1%}",
    }


def drift_chart(view: model_drift.Drift) -> dict[str, Any]:
    """What ``static/drift.js`` draws: PSI bars and KS dots per feature, the threshold line."""
    return {
        "features": [f.name for f in view.features],
        "psi": [round(f.psi, 4) for f in view.features],
        "ks": [round(f.ks, 4) for f in view.features],
        "threshold": view.threshold,
    }


def _drift_threshold(text: str) -> float:
    try:
        value = float(text) if text else drift.DEFAULT_THRESHOLD
    except ValueError as exc:
        raise InvalidInput("drift_threshold must be a number such as 0.2.") from exc
    model_drift.check_options(value, model_drift.DEFAULT_RECENT)
    return value


def _recent_rows(view: Monitoring) -> list[dict[str, Any]]:
    rows = []
    for record in view.recent:
        start = record["startTimeStampMs"]
        rows.append(
            {
                "uuid": record["predictionUuid"],
                "at": datetime.fromtimestamp(start / 1000, UTC),
                "latency": record["endTimeStampMs"] - start,
                "metrics": json.dumps(record["metrics"], separators=(", ", ": "))[:400],
            }
        )
    return rows


def _choices(request: Request, model_id: str) -> dict[str, str]:
    """The keys asked for in the query; else the ones this person picked last for the model."""
    session = request.session if "session" in request.scope else {}
    stored: dict[str, dict[str, str]] = dict(session.get(CHOICES_SESSION_KEY) or {})
    query = request.query_params
    if not any(name in query for name in CHOICES):
        remembered = stored.get(model_id) or {}
        return {name: str(remembered.get(name, "")) for name in CHOICES}
    picked = {name: query.get(name, "")[:MAX_KEY_LENGTH] for name in CHOICES}
    if "session" in request.scope and stored.get(model_id) != picked:
        stored.pop(model_id, None)
        stored[model_id] = picked
        request.session[CHOICES_SESSION_KEY] = dict(list(stored.items())[-REMEMBERED_MODELS:])
    return picked


def _load(
    platform: PlatformDep,
    principal: UserDep,
    model_id: str,
    window: str,
    metric: str,
    prediction_key: str,
    truth_key: str,
) -> Monitoring:
    return model_metrics.monitoring(
        platform,
        principal,
        model_id,
        window=window if window in WINDOWS_MS else "1h",
        metric_key=metric or None,
        prediction_key=prediction_key or None,
        truth_key=truth_key or None,
    )


@router.get("/projects/{project_id}/models/{model_id}/monitoring")
def monitoring_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    model_id: str,
    window: str = "1h",
    drift_threshold: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    data = _load(platform, principal, model_id, window, **_choices(request, model_id))
    if data.model.project_id != project_id:
        raise NotFound(f"Model {model_id!r} not found in this project.")
    return render(
        request,
        "models/monitoring.html",
        {
            "nav": "projects",
            "tab": "models",
            "view": view,
            "project": view.project,
            "model": data.model,
            "data": data,
            "charts": charts(data),
            "summary": summary(data),
            "recent": _recent_rows(data),
            "windows": WINDOW_LABELS,
            **_drift(platform, principal, project_id, model_id, drift_threshold),
            "model_url": f"/projects/{project_id}/models/{model_id}",
        },
    )


def _drift(
    platform: Platform, principal: Principal, project_id: str, model_id: str, threshold: str
) -> dict[str, Any]:
    """What ``models/monitoring_drift.html`` shows."""
    view = model_drift.model_drift(
        platform, principal, project_id, model_id, threshold=_drift_threshold(threshold)
    )
    return {"drift": view, "drift_chart": drift_chart(view)}


@router.get("/projects/{project_id}/models/{model_id}/monitoring.json")
def monitoring_json(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    model_id: str,
    window: str = "1h",
    drift_threshold: str = "",
) -> JSONResponse:
    """What the page's poll redraws: charts, totals, recent predictions and the drift view
    (rendered, ``drift_html``, as the page's own partial draws it)."""
    projects.get(platform, principal, project_id)
    data = _load(platform, principal, model_id, window, **_choices(request, model_id))
    if data.model.project_id != project_id:
        raise NotFound(f"Model {model_id!r} not found in this project.")
    recent = [{**row, "at": row["at"].isoformat(timespec="seconds")} for row in _recent_rows(data)]
    drift_html = fragment(
        "models/monitoring_drift.html",
        _drift(platform, principal, project_id, model_id, drift_threshold),
    )
    return JSONResponse(
        {
            "charts": charts(data),
            "summary": summary(data),
            "recent": recent,
            "drift_html": drift_html,
        }
    )

"""The prediction a model replica is serving right now, shared by ``cml.models_v1`` (which
opens it around each call) and ``cml.metrics_v1`` (whose ``track_metric`` writes into it)."""

from __future__ import annotations

import contextvars
from typing import Any

_metrics: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "lakeworks_prediction_metrics", default=None
)


def current_metrics() -> dict[str, Any] | None:
    """The metrics dict of the prediction in progress in this thread, or None outside one."""
    return _metrics.get()

"""What the model gateway hands to the model metrics store (DESIGN §6, CML compat §4).

The gateway never writes to the database on a request's path: it builds these records and
submits them to the metrics writer, which stores them in batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PredictionRecord:
    """One record of ``read_metrics`` (compat §4): a prediction, or an aggregate window.

    Ids are the API v2 ids of the deployment, build and model (the trailing UUID of their
    CRNs). ``prediction_uuid`` is ``""`` for an aggregate record.
    """

    deployment_id: str
    build_id: str
    model_id: str
    prediction_uuid: str
    start_ms: int
    end_ms: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestSample:
    """One request through the gateway, for the monitoring charts (requests, latency,
    errors, 429s). ``code`` is the envelope's error code (``model.busy``...) or None."""

    model_id: str
    deployment_id: str | None
    replica_id: str | None
    at_ms: int  # when the request arrived (epoch ms)
    latency_ms: float  # gateway in to gateway out
    status: int  # HTTP status returned to the client
    code: str | None = None

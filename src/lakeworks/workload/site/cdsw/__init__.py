"""The legacy ``cdsw`` module of CML workloads (CML compat §3), as Lakeworks provides it.

Shares one implementation with the ``cml`` package (``cml.utils_v1._emulate_cdsw()`` returns
this module). Importing it never fails and never needs the network.

Available now:

- ``display(*objects)``, ``html(text)``, ``markdown(text)``: rich output in a notebook or
  session front end; in a job's log, the text.
- ``track_metric(key, value)``: in a job run, appends ``{"key", "value", "timestamp_ms"}`` to
  ``$LAKEWORKS_OUTPUT_DIR/metrics.jsonl``; elsewhere a note on stderr.
- ``track_delayed_metrics(metrics, prediction_uuid)``, ``track_aggregate_metrics(metrics,
  start_timestamp_ms, end_timestamp_ms, model_deployment_crn)``, ``read_metrics(...)``: the
  model metrics store (``cml.metrics_v1``; ``dev=True`` for the in-memory dev store).
- ``track_file(path)``: in a job run, copies the (project-relative) file under
  ``$LAKEWORKS_OUTPUT_DIR/files/``; elsewhere a note on stderr.

- ``model_metrics`` (decorator), ``call_model(key, request)``, ``_get_model_call_endpoint()``:
  model serving (see ``cml.models_v1``).
- ``launch_workers``, ``await_workers``, ``list_workers``, ``stop_workers``: workers of a
  session or job run (see ``cml.workers_v1``).

Example::

    import cdsw
    cdsw.track_metric("accuracy", 0.93)
    cdsw.track_file("model.pkl")
    cdsw.html("<b>done</b>")
"""

from __future__ import annotations

from typing import Any

from cml import __version__
from cml._display import display, publish
from cml._run import record_file
from cml.metrics_v1 import (
    read_metrics,
    track_aggregate_metrics,
    track_delayed_metrics,
    track_metric,
)
from cml.models_v1 import _model_call_endpoint as _get_model_call_endpoint
from cml.models_v1 import call_model, model_metrics
from cml.workers_v1 import await_workers, launch_workers, list_workers, stop_workers


def html(text: str) -> None:
    """Show HTML in a notebook or session; print it in a log."""
    publish({"text/html": str(text), "text/plain": str(text)})


def markdown(text: str) -> None:
    """Show Markdown in a notebook or session; print it in a log."""
    publish({"text/markdown": str(text), "text/plain": str(text)})


def track_file(path: Any) -> None:
    """In a job run, keep a copy of the project file ``path`` with the run's output."""
    record_file(path)


__all__ = [
    "__version__",
    "_get_model_call_endpoint",
    "await_workers",
    "call_model",
    "display",
    "html",
    "launch_workers",
    "list_workers",
    "markdown",
    "model_metrics",
    "read_metrics",
    "stop_workers",
    "track_aggregate_metrics",
    "track_delayed_metrics",
    "track_file",
    "track_metric",
]

"""The legacy ``cdsw`` module of CML workloads (CML compat §3), as Lakeworks provides it.

Shares one implementation with the ``cml`` package (``cml.utils_v1._emulate_cdsw()`` returns
this module). Importing it never fails and never needs the network.

Available now:

- ``display(*objects)``, ``html(text)``, ``markdown(text)``: rich output in a notebook or
  session front end; in a job's log, the text.
- ``track_metric(key, value)``: in a job run, appends ``{"key", "value", "timestamp_ms"}`` to
  ``$LAKEWORKS_OUTPUT_DIR/metrics.jsonl``; elsewhere a note on stderr.
- ``track_file(path)``: in a job run, copies the (project-relative) file under
  ``$LAKEWORKS_OUTPUT_DIR/files/``; elsewhere a note on stderr.

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
from cml.metrics_v1 import track_metric


def html(text: str) -> None:
    """Show HTML in a notebook or session; print it in a log."""
    publish({"text/html": str(text), "text/plain": str(text)})


def markdown(text: str) -> None:
    """Show Markdown in a notebook or session; print it in a log."""
    publish({"text/markdown": str(text), "text/plain": str(text)})


def track_file(path: Any) -> None:
    """In a job run, keep a copy of the project file ``path`` with the run's output."""
    record_file(path)


__all__ = ["__version__", "display", "html", "markdown", "track_file", "track_metric"]

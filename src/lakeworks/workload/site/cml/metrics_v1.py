"""``cml.metrics_v1``: metrics of the current workload.

Example::

    from cml.metrics_v1 import track_metric
    track_metric("rmse", 0.41)
    track_metric("input_data", {"age": 37, "gender": "f"})
"""

from __future__ import annotations

from typing import Any

from cml._run import record_metric


def track_metric(key: str, value: Any) -> None:
    """Record ``value`` (str, bool, int, float, dict or list) under ``key``.

    In a job run it is kept with the run's output; elsewhere a note on stderr says it was not.
    """
    record_metric(key, value)

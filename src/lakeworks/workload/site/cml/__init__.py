"""CML's in-workload package (CML compat §3), as Lakeworks provides it.

- ``cml.metrics_v1``: ``track_metric``.
- ``cml.workers_v1``: ``launch_workers``, ``await_workers``, ``list_workers``, ``stop_workers``.
- ``cml.utils_v1``: ``_emulate_cdsw()`` (the ``cdsw`` module), ``get_auth()``.
- ``cml.data_v1``: ``get_connection(name)`` (the project's Iceberg catalog, DuckDB,
  PostgreSQL, MySQL, Spark), ``incremental_append_scan(table, from, to)``.

The legacy ``cdsw`` module shares this implementation.
"""

from __future__ import annotations

__version__ = "1.0.0"

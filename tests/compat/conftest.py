"""Fixtures for the conformance scenarios (compat §15): a live server with MLflow, a
scheduler ticked by the test, users. They are ``tests/sdk``'s (see its conftest).

Provides: ``sdk_server``, ``sdk_platform``, ``tick_until(predicate, what)``, ``alice``,
``bob``, ``cmlapi``.
"""

from __future__ import annotations

from tests.sdk.conftest import (  # noqa: F401 (fixtures used here too)
    _drop_mlflow_schemas,
    alice,
    bob,
    cmlapi,
    sdk_platform,
    sdk_server,
    tick_until,
)

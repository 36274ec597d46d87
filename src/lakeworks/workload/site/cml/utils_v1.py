"""``cml.utils_v1``: helpers that bridge the ``cml`` package and the legacy ``cdsw`` module.

Example::

    try:
        cdsw = cml.utils_v1._emulate_cdsw()
    except Exception:
        import cdsw
"""

from __future__ import annotations

import os
import types


def _emulate_cdsw() -> types.ModuleType:
    """The object that exposes the whole ``cdsw`` API: the ``cdsw`` module itself."""
    import cdsw

    return cdsw


def get_auth() -> dict[str, str]:
    """Credentials for calls to Lakeworks: the workload's API v2 key as a Bearer header.

    Empty when the workload has no key (``CDSW_APIV2_KEY`` unset).
    """
    key = os.environ.get("CDSW_APIV2_KEY", "")
    return {"Authorization": f"Bearer {key}"} if key else {}

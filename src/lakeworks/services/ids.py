"""CML's public identifiers: ``xxxx-xxxx-xxxx-xxxx`` in lowercase base-36 (projects, jobs,
runs)."""

from __future__ import annotations

import secrets
import string

_B36 = string.ascii_lowercase + string.digits


def public_id() -> str:
    return "-".join("".join(secrets.choice(_B36) for _ in range(4)) for _ in range(4))

"""CML's public identifiers: ``xxxx-xxxx-xxxx-xxxx`` in lowercase base-36 (projects, jobs,
runs)."""

from __future__ import annotations

import secrets
import string

_B36 = string.ascii_lowercase + string.digits


_SPACE = 36**16


def public_id() -> str:
    # One draw from the OS's generator, written in base 36: a draw per character cost a
    # system call each, and was a sixth of a burst of cron fires.
    number = secrets.randbelow(_SPACE)
    digits = []
    for _ in range(16):
        number, digit = divmod(number, 36)
        digits.append(_B36[digit])
    text = "".join(digits)
    return f"{text[:4]}-{text[4:8]}-{text[8:12]}-{text[12:]}"

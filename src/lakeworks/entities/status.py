"""State machines: every status enum has a table of allowed moves, and every move the store
applies is checked against it first (rq's ``JobStatus``; DESIGN §3). A move outside its table is
a bug in the caller, not a race: races are caught by the store's conditional updates, which
answer False."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from lakeworks.errors import InvalidState

S = TypeVar("S", bound=enum.Enum)


class IllegalTransition(InvalidState):
    """A status move that the status's transition table does not allow."""

    code = "illegal_transition"


def check_move(table: Mapping[S, frozenset[S]], current: S, target: S) -> None:
    """Raise ``IllegalTransition`` unless ``table`` allows ``current`` → ``target``."""
    if target not in table.get(current, frozenset()):
        kind = type(current).__name__
        raise IllegalTransition(f"{kind} cannot move from {current.value!r} to {target.value!r}.")

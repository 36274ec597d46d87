"""Secret project variables masked in workload logs, as CI systems mask them.

A workload receives the values of its project's secret variables (it has to use them), and
whatever it prints goes to a log that every project viewer can read. So every read of a log
through the API or UI replaces those values with ``****``. Masking covers the raw value
(and each line of a multi-line one); a workload that encodes a secret first, or writes it to a
file, still reveals it: masking keeps secrets out of logs by accident, it does not stop code
that contributors write from using them (see README, Roles).

Logs are read in windows (``offset`` / ``limit``), so a value cut by a window boundary must
still be masked: each read looks ``longest - 1`` bytes either side of its window, and a read
that ends at the end of a log still being written holds back a tail that could be the start
of a value, until the rest arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"****"
# Shorter values would mask ordinary text ("1", "no") all over a log; CI systems skip them too.
MIN_LENGTH = 4


class Masker:
    def __init__(self, values: Iterable[str]) -> None:
        found: set[bytes] = set()
        for value in values:
            for piece in (value, *value.splitlines()):
                encoded = piece.strip().encode()
                if len(encoded) >= MIN_LENGTH:
                    found.add(encoded)
        # Longest first, so a value containing another is masked whole.
        self.values = sorted(found, key=len, reverse=True)
        self.longest = len(self.values[0]) if self.values else 0
        self._pattern = (
            re.compile(b"|".join(re.escape(v) for v in self.values)) if self.values else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, data: bytes) -> bytes:
        return self._pattern.sub(MASK, data) if self._pattern else data

    def mask_window(
        self, raw: bytes, begin: int, start: int, end: int, *, growing: bool
    ) -> tuple[bytes, int]:
        """Mask bytes ``[start, end)`` of a log, given ``raw`` = its bytes from ``begin``
        (which reach ``longest - 1`` before ``start`` and after ``end`` where the log has
        them). Returns the masked bytes and the offset the next read starts from: ``end``,
        or less when ``growing`` and the log ends with what could be the start of a value."""
        if self._pattern is None:
            return raw[start - begin : end - begin], end
        if growing and end == begin + len(raw):
            end -= self._held_back(raw[max(start - begin, 0) : end - begin])
        out = bytearray()
        pos = start
        for match in self._pattern.finditer(raw):
            first, last = begin + match.start(), begin + match.end()
            if last <= pos or first >= end:
                continue
            out += raw[pos - begin : max(first, pos) - begin]
            out += MASK
            pos = min(last, end)
        out += raw[pos - begin : end - begin]
        return bytes(out), end

    def _held_back(self, tail: bytes) -> int:
        """How many bytes at the end of ``tail`` could begin a value (0 when none)."""
        best = 0
        for value in self.values:
            for size in range(min(len(value) - 1, len(tail)), best, -1):
                if tail.endswith(value[:size]):
                    best = size
                    break
        return best

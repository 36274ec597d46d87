"""CML list conventions: page_size, opaque page_token, JSON-string search_filter, sort."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Query

from lakeworks import bounds
from lakeworks.errors import InvalidInput

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    offset: int
    size: int

    def next_token(self, more: bool) -> str:
        if not more:
            return ""
        raw = json.dumps({"o": self.offset + self.size, "s": self.size}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_page(page_size: Any, page_token: str, default_size: int) -> Page:
    size: int | None = None
    offset = 0
    if page_token:
        padded = page_token + "=" * (-len(page_token) % 4)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(padded))
            offset, size = int(decoded["o"]), int(decoded["s"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("page_token is not a token this server issued.") from exc
        if offset < 0 or size < 1:
            raise InvalidInput("page_token is not a token this server issued.")
    if page_size not in (None, "", 0, "0"):
        try:
            size = int(page_size)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"page_size must be a whole number, not {page_size!r}.") from exc
        if size < 1:
            raise InvalidInput("page_size must be at least 1.")
    size = min(size or default_size, MAX_PAGE_SIZE)
    return Page(offset=offset, size=size)


def parse_filter(search_filter: str) -> dict[str, str]:
    if not search_filter:
        return {}
    try:
        parsed = bounds.loads(search_filter)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f'search_filter must be a JSON object string such as \'{{"name": "churn"}}\': {exc}'
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidInput("search_filter must be a JSON object.")
    return {str(k): "" if v is None else str(v) for k, v in parsed.items()}


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    """``"-updated_at,+name"`` → [("updated_at", False), ("name", True)]."""
    result = []
    for part in (sort or "").split(","):
        # A "+" in a query string arrives as a space when the client did not encode it.
        part = part.strip()
        if not part:
            continue
        ascending = not part.startswith("-")
        field = part.lstrip("+- ")
        if not field:
            raise InvalidInput(f"{sort!r} is not a sort order; use e.g. '-created_at,+name'.")
        result.append((field, ascending))
    return result


@dataclass(frozen=True)
class ListParams:
    page_size: str | None
    page_token: str
    search_filter: str
    sort: str


def list_params(
    page_size: str | None = Query(None),
    page_token: str = Query(""),
    search_filter: str = Query(""),
    sort: str = Query(""),
    pageSize: str | None = Query(None, include_in_schema=False),
    pageToken: str = Query("", include_in_schema=False),
    searchFilter: str = Query("", include_in_schema=False),
) -> ListParams:
    return ListParams(
        page_size=page_size if page_size is not None else pageSize,
        page_token=page_token or pageToken,
        search_filter=search_filter or searchFilter,
        sort=sort,
    )

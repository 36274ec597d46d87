"""``Cursor``: iterate every item of a paged list call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable


class Cursor:
    """Pages through ``list_fn(**kwargs)``, following ``next_page_token``.

    The list is found by itself: the one list-valued field of the answer (``jobs``,
    ``projects``, ``model_builds``, ...).

    Example::

        from cmlapi.utils import Cursor
        for job in Cursor(api.list_jobs, project_id=project_id).items():
            print(job.name)
    """

    def __init__(self, list_fn: Callable[..., Any], **kwargs: Any) -> None:
        self.list_fn = list_fn
        self.kwargs = kwargs

    def pages(self) -> Iterator[Any]:
        """Each answer of ``list_fn`` in turn, until a page without ``next_page_token``."""
        kwargs = dict(self.kwargs)
        seen: set[str] = set()
        while True:
            page = self.list_fn(**kwargs)
            yield page
            token = _field(page, "next_page_token")
            if not token or token in seen:  # a repeated token would loop forever
                return
            seen.add(token)
            kwargs["page_token"] = token

    def items(self) -> Iterator[Any]:
        """Every element of every page."""
        for page in self.pages():
            yield from _list_of(page)


def _field(page: Any, name: str) -> Any:
    if isinstance(page, dict):
        return page.get(name)
    return getattr(page, name, None)


def _list_of(page: Any) -> list[Any]:
    values = page if isinstance(page, dict) else page.to_dict()
    keys = [k for k, v in values.items() if isinstance(v, list)]
    if len(keys) != 1:
        raise ValueError(f"Cannot tell which field is the list: {sorted(values)}")
    return list(_field(page, keys[0]) or [])

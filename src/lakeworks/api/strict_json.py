"""API routes that read JSON bodies through ``bounds.loads``: NaN, Infinity and nesting past
``MAX_JSON_DEPTH`` are invalid JSON here (400), as they are to every other JSON reader. Python's
``json`` accepts the first two and raises RecursionError (a 500) on a body nested 100,000 deep."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from lakeworks import bounds


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = bounds.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of every API router (``APIRouter(route_class=StrictJSONRoute)``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler

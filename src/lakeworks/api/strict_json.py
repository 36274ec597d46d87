"""API routes that read JSON bodies through ``bounds.loads``: NaN, Infinity and nesting past
``MAX_JSON_DEPTH`` are invalid JSON here (400), as they are to every other JSON reader. Python's
``json`` accepts the first two and raises RecursionError (a 500) on a body nested 100,000 deep.

A route whose ``response_model`` is one of ``api.responses``' models answers with exactly the
keys of the dict it returns (``response_model_exclude_unset``): the model declares and checks
the answer, it never adds a field."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import UnionType
from typing import Any, get_args

from fastapi import Request, Response
from fastapi.routing import APIRoute

from lakeworks import bounds
from lakeworks.api.responses import Out


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = bounds.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of every API router (``APIRouter(route_class=StrictJSONRoute)``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        model = kwargs.get("response_model")
        models = get_args(model) if isinstance(model, UnionType) else (model,)
        if all(isinstance(m, type) and issubclass(m, Out) for m in models):
            kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler

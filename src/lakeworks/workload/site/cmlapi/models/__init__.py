"""Every request and response class of API v2, by name (``cmlapi.models.Job``, also
re-exported as ``cmlapi.Job``)."""

from __future__ import annotations

from .base import ApiModel
from .requests import *  # noqa: F403
from .requests import __name__ as _requests_name
from .resources import *  # noqa: F403
from .resources import __name__ as _resources_name


def _classes() -> dict[str, type[ApiModel]]:
    import sys

    found: dict[str, type[ApiModel]] = {}
    for module in (sys.modules[_requests_name], sys.modules[_resources_name]):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, ApiModel) and value is not ApiModel:
                found[name] = value
    return found


MODELS = _classes()
__all__ = ["MODELS", "ApiModel", *sorted(MODELS)]

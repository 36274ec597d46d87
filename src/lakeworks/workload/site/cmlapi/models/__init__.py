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


def _alias_modules(classes: dict[str, type[ApiModel]]) -> None:
    """``from cmlapi.models.create_job_request import CreateJobRequest`` works as in the
    generated client, which has one module per class."""
    import re
    import sys
    import types

    package = sys.modules[__name__]
    for name, cls in classes.items():
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("m_lflow", "mlflow")
        module = types.ModuleType(f"{__name__}.{snake}", f"The ``{name}`` class.")
        setattr(module, name, cls)
        sys.modules.setdefault(module.__name__, module)
        if not hasattr(package, snake):
            setattr(package, snake, module)


MODELS = _classes()
_alias_modules(MODELS)
__all__ = ["MODELS", "ApiModel", *sorted(MODELS)]

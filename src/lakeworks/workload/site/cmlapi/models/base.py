"""``ApiModel``, the base of every model class: constructor, ``to_dict()``, ``==``.

A model declares its fields once, in ``swagger_types`` (name → type), in the order its
constructor takes them positionally; the JSON names are the same snake_case names.
"""

from __future__ import annotations

import pprint
from typing import Any, ClassVar


def fields(**types: str) -> dict[str, str]:
    """Field name → swagger type (``str``, ``int``, ``float``, ``bool``, ``datetime``,
    ``object``, ``list[T]``, ``dict(str, T)`` or a model class name), in declaration order."""
    return types


class ApiModel:
    """A request or response object of API v2.

    Example::

        job = cmlapi.CreateJobRequest(name="train", script="train.py", cpu=1, memory=2)
        job.to_dict()["script"]  # "train.py"
    """

    swagger_types: ClassVar[dict[str, str]] = {}
    attribute_map: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.attribute_map = {name: name for name in cls.swagger_types}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(self.swagger_types)
        if len(args) > len(names):
            raise TypeError(
                f"{type(self).__name__}() takes at most {len(names)} positional arguments "
                f"({len(args)} given)"
            )
        for name in names:
            object.__setattr__(self, name, None)
        for name, value in zip(names, args):
            object.__setattr__(self, name, value)
        for name, value in kwargs.items():
            if name not in self.swagger_types:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument '{name}'"
                )
            if name in names[: len(args)]:
                raise TypeError(f"{type(self).__name__}() got multiple values for '{name}'")
            object.__setattr__(self, name, value)
        self.discriminator = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, recursing into nested models, lists and dicts."""
        return {name: _plain(getattr(self, name)) for name in self.swagger_types}

    def to_str(self) -> str:
        return pprint.pformat(self.to_dict())

    def __repr__(self) -> str:
        return self.to_str()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return False
        return self.to_dict() == other.to_dict()

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


def _plain(value: Any) -> Any:
    if isinstance(value, ApiModel):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

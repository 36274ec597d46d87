"""The API classes (one: ``CMLServiceApi``)."""

from .cml_service_api import CMLServiceApi

__all__ = ["CMLServiceApi"]

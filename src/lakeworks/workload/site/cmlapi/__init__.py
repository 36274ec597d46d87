"""``cmlapi``: the Python client of Lakeworks' API v2, compatible with CML's.

In a workload ``default_client()`` needs no argument: it reads ``CDSW_API_URL`` and
``CDSW_APIV2_KEY``. From elsewhere, give the workspace URL and an API key.

Example::

    import cmlapi
    api = cmlapi.default_client()  # or default_client("https://ml.example.org", key)
    for project in api.list_projects(page_size=100).projects:
        print(project.id, project.name)

Uses only the standard library.
"""

from __future__ import annotations

import os

from . import rest, utils
from .api.cml_service_api import CMLServiceApi
from .api_client import ApiClient
from .configuration import Configuration
from .models import *  # noqa: F403
from .models import MODELS
from .rest import ApiException

__version__ = "2.0.0"


def default_client(url: str | None = None, cml_api_key: str | None = None) -> CMLServiceApi:
    """A ``CMLServiceApi`` for ``url`` (the workspace's base URL) with ``cml_api_key``.

    Either defaults to the workload's environment: ``CDSW_API_URL`` without its ``/api/v1``
    suffix, and ``CDSW_APIV2_KEY``. Raises ``ValueError`` when neither gives a value.

    Example::

        api = cmlapi.default_client()
        api = cmlapi.default_client("https://ml.example.org", "<API v2 key>")
    """
    if not url:
        api_url = os.environ.get("CDSW_API_URL", "")
        url = api_url[: -len("/api/v1")] if api_url.endswith("/api/v1") else api_url
    if not cml_api_key:
        cml_api_key = os.environ.get("CDSW_APIV2_KEY", "")
    if not url or not cml_api_key:
        missing = [
            name
            for name, value in (
                ("url (CDSW_API_URL)", url),
                ("API key (CDSW_APIV2_KEY)", cml_api_key),
            )
            if not value
        ]
        raise ValueError(
            "cmlapi.default_client() needs a URL and an API v2 key; missing: "
            + ", ".join(missing)
            + ". Outside a workload, pass default_client(url, cml_api_key)."
        )
    config = Configuration()
    config.host = url
    client = ApiClient(config)
    client.set_default_header("authorization", "Bearer " + cml_api_key)
    return CMLServiceApi(client)


__all__ = [
    "ApiClient",
    "ApiException",
    "CMLServiceApi",
    "Configuration",
    "default_client",
    "rest",
    "utils",
    *sorted(MODELS),
]

"""Where the client connects and how: host, TLS verification, proxy, credentials."""

from __future__ import annotations

import copy
from typing import Any


class Configuration:
    """Connection settings of an ``ApiClient``.

    ``host`` is the workspace's base URL (``https://ml.example.org``); the operations add
    ``/api/v2/...`` themselves (a host given with ``/api/v2`` or ``/api/v1`` is accepted too).
    ``verify_ssl`` and ``ssl_ca_cert`` (a PEM file) control TLS verification. Credentials are
    usually a default header (``ApiClient.set_default_header("authorization", "Bearer KEY")``),
    or ``api_key["Authorization"]`` with ``api_key_prefix["Authorization"] = "Bearer"``.

    Example::

        config = cmlapi.Configuration()
        config.host = "https://ml.example.org"
        config.verify_ssl = True
        api = cmlapi.CMLServiceApi(cmlapi.ApiClient(config))
    """

    _default: Configuration | None = None

    def __init__(self) -> None:
        if Configuration._default is not None:
            self.__dict__.update(copy.deepcopy(Configuration._default.__dict__))
            return
        self._host = "http://localhost"
        self.api_key: dict[str, str] = {}
        self.api_key_prefix: dict[str, str] = {}
        self.username = ""
        self.password = ""
        self.verify_ssl = True
        self.ssl_ca_cert: str | None = None
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self.assert_hostname: bool | None = None
        self.proxy: str | None = None
        self.connection_pool_maxsize = 4
        self.client_side_validation = True
        self.debug = False
        self.logger_file: str | None = None
        self.temp_folder_path: str | None = None

    @property
    def host(self) -> str:
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        host = (value or "").rstrip("/")
        for suffix in ("/api/v2", "/api/v1"):
            if host.endswith(suffix):
                host = host[: -len(suffix)]
        self._host = host

    @classmethod
    def set_default(cls, default: Configuration | None) -> None:
        """Make new ``Configuration()`` objects start as copies of ``default``."""
        cls._default = copy.deepcopy(default)

    def get_api_key_with_prefix(self, identifier: str) -> str | None:
        """``api_key[identifier]`` with its prefix (names compared case-insensitively)."""
        key = _lookup(self.api_key, identifier)
        if not key:
            return None
        prefix = _lookup(self.api_key_prefix, identifier)
        return f"{prefix} {key}" if prefix else key

    def auth_settings(self) -> dict[str, dict[str, Any]]:
        """The credentials to add to each request, as swagger clients describe them."""
        settings: dict[str, dict[str, Any]] = {}
        value = self.get_api_key_with_prefix("Authorization")
        if value:
            settings["Bearer"] = {"in": "header", "key": "Authorization", "value": value}
        return settings

    def to_debug_report(self) -> str:
        import platform
        import sys

        from . import __version__

        return (
            f"Python SDK Debug Report:\nOS: {sys.platform}\n"
            f"Python Version: {platform.python_version()}\n"
            f"Version of the API: v2\nSDK Package Version: {__version__}"
        )


def _lookup(values: dict[str, str], name: str) -> str | None:
    for key, value in values.items():
        if key.lower() == name.lower():
            return value
    return None

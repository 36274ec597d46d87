"""HTTP transport (standard library only) and ``ApiException``.

Every non-2xx answer raises ``ApiException`` with the server's status, reason, raw body and
headers; a connection failure raises it too, with ``status`` 0 and the cause as ``reason``.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any, Union

from .configuration import Configuration

Timeout = Union[None, float, int, tuple]


class OpenApiException(Exception):
    """Base class of the client's exceptions."""


class ApiException(OpenApiException):
    """A call failed. ``status`` (int), ``reason`` (str), ``body`` (the response text, JSON
    from Lakeworks: ``{"error", "code", "message", "details"}``) and ``headers``.

    Example::

        try:
            api.get_project("no-such-project")
        except cmlapi.rest.ApiException as exc:
            print(exc.status, json.loads(exc.body)["message"])
    """

    def __init__(
        self,
        status: int | None = None,
        reason: str | None = None,
        http_resp: RESTResponse | None = None,
    ) -> None:
        if http_resp is not None:
            self.status = http_resp.status
            self.reason = http_resp.reason
            self.body: str | None = http_resp.data.decode("utf-8", errors="replace")
            self.headers: Any = http_resp.getheaders()
        else:
            self.status = status or 0
            self.reason = reason or ""
            self.body = None
            self.headers = None
        super().__init__(str(self))

    @property
    def message(self) -> str:
        """The server's error message (or the reason when the body holds none)."""
        try:
            return str(json.loads(self.body or "")["message"])
        except (ValueError, KeyError, TypeError):
            return self.reason

    def __str__(self) -> str:
        text = f"({self.status})\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {self.headers}\n"
        if self.body:
            text += f"HTTP response body: {self.body}\n"
        return text


class ApiTypeError(OpenApiException, TypeError):
    """A call got an argument it does not take."""


class ApiValueError(OpenApiException, ValueError):
    """A call lacks a required argument."""


class RESTResponse:
    """One HTTP answer: ``status``, ``reason``, ``data`` (bytes) and its headers."""

    def __init__(self, status: int, reason: str, headers: Message, data: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.data = data

    def getheaders(self) -> dict[str, str]:
        return dict(self.headers.items())

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


class RESTClientObject:
    """Sends requests with ``urllib`` (no third-party package needed)."""

    def __init__(self, configuration: Configuration) -> None:
        handlers: list[Any] = [
            urllib.request.HTTPSHandler(context=self._ssl_context(configuration))
        ]
        if configuration.proxy:
            proxy = configuration.proxy
            handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
        self._opener = urllib.request.build_opener(*handlers)

    @staticmethod
    def _ssl_context(configuration: Configuration) -> ssl.SSLContext:
        if not configuration.verify_ssl:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.assert_hostname is False:
            context.check_hostname = False
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        return context

    def request(
        self,
        method: str,
        url: str,
        query_params: list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        _request_timeout: Timeout = None,
    ) -> RESTResponse:
        if query_params:
            url += "?" + urllib.parse.urlencode(query_params)
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        timeout = _request_timeout
        if isinstance(timeout, tuple):  # (connect, read), as urllib3 takes it
            timeout = max(float(t) for t in timeout if t is not None)
        try:
            with self._opener.open(
                request, timeout=timeout if timeout is not None else socket.getdefaulttimeout()
            ) as answer:
                response = RESTResponse(answer.status, answer.reason, answer.headers, answer.read())
        except urllib.error.HTTPError as exc:
            try:
                response = RESTResponse(exc.code, str(exc.reason), exc.headers, exc.read())
            finally:
                exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiException(status=0, reason=f"Cannot reach {url}: {reason}") from exc
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return response

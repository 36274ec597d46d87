"""``ApiClient``: serialises bodies, sends requests, turns answers into model objects."""

from __future__ import annotations

import datetime
import json
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable
from urllib.parse import quote

from . import rest
from .configuration import Configuration
from .models import MODELS, ApiModel

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(([^,]*), (.+)\)$")
_PRIMITIVES: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": int,
    "long": int,
    "float": float,
}


class AsyncResult:
    """What a call with ``async_req=True`` returns: ``.get()`` waits for the answer (or
    raises the call's exception), like ``multiprocessing.pool.AsyncResult``."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def get(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout)

    def wait(self, timeout: float | None = None) -> None:
        wait([self._future], timeout)

    def ready(self) -> bool:
        return self._future.done()

    def successful(self) -> bool:
        if not self._future.done():
            raise ValueError("the call has not finished")
        return self._future.exception() is None


class ApiClient:
    """Holds the configuration, default headers and a thread pool for ``async_req=True``.

    Example::

        client = cmlapi.ApiClient(config)
        client.set_default_header("authorization", "Bearer " + api_key)
        api = cmlapi.CMLServiceApi(client)
    """

    def __init__(
        self,
        configuration: Configuration | None = None,
        header_name: str | None = None,
        header_value: str | None = None,
        cookie: str | None = None,
        pool_threads: int = 1,
    ) -> None:
        from . import __version__

        self.configuration = configuration or Configuration()
        self.pool_threads = pool_threads
        self.rest_client = rest.RESTClientObject(self.configuration)
        self.default_headers: dict[str, str] = {}
        if header_name is not None and header_value is not None:
            self.default_headers[header_name] = header_value
        self.cookie = cookie
        self.user_agent = f"cmlapi/{__version__}/python (Lakeworks)"
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(1, self.pool_threads))
            return self._pool

    @property
    def user_agent(self) -> str:
        return self.default_headers["User-Agent"]

    @user_agent.setter
    def user_agent(self, value: str) -> None:
        self.default_headers["User-Agent"] = value

    def set_default_header(self, header_name: str, header_value: str) -> None:
        self.default_headers[header_name] = header_value

    # Requests --------------------------------------------------------------------------

    def call_api(
        self,
        resource_path: str,
        method: str,
        path_params: dict[str, Any] | None = None,
        query_params: list[tuple[str, Any]] | None = None,
        header_params: dict[str, str] | None = None,
        body: Any = None,
        post_params: Any = None,
        files: dict[str, Any] | None = None,
        response_type: str | None = None,
        auth_settings: Any = None,
        async_req: bool | None = None,
        _return_http_data_only: bool | None = None,
        collection_formats: Any = None,
        _preload_content: bool = True,
        _request_timeout: rest.Timeout = None,
    ) -> Any:
        """Send one request. Returns the deserialised answer (``_return_http_data_only``) or
        ``(data, status, headers)``; with ``async_req`` an ``AsyncResult`` of either.

        ``post_params``, ``auth_settings`` and ``collection_formats`` are taken and ignored,
        for code written against the generated client's signature.

        Example::

            project = client.call_api(
                "/api/v2/projects/{project_id}", "GET",
                path_params={"project_id": pid}, response_type="Project",
            )
        """
        args = (resource_path, method, path_params, query_params, header_params, body, files)
        options = (response_type, _return_http_data_only, _preload_content, _request_timeout)
        if not async_req:
            return self._call(*args, *options)
        return AsyncResult(self.pool.submit(self._call, *args, *options))

    def _call(
        self,
        resource_path: str,
        method: str,
        path_params: dict[str, Any] | None,
        query_params: list[tuple[str, Any]] | None,
        header_params: dict[str, str] | None,
        body: Any,
        files: dict[str, Any] | None,
        response_type: str | None,
        return_data_only: bool | None,
        preload_content: bool,
        request_timeout: rest.Timeout,
    ) -> Any:
        headers = dict(self.default_headers)
        headers.update(header_params or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        for auth in self.configuration.auth_settings().values():
            if not any(k.lower() == "authorization" for k in headers):
                headers[auth["key"]] = auth["value"]
        path = resource_path
        for name, value in (path_params or {}).items():
            safe = "/" if name == "path" else ""
            path = path.replace("{" + name + "}", quote(str(value), safe=safe))
        if path.endswith("/"):  # an optional path left empty: list the project root
            path = path.rstrip("/")
        query = [(k, _query_value(v)) for k, v in (query_params or []) if v is not None]
        data: bytes | None = None
        if files is not None:
            data, content_type = _multipart(files)
            headers["Content-Type"] = content_type
        elif body is not None:
            data = json.dumps(self.sanitize_for_serialization(body)).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/json")
        response = self.rest_client.request(
            method,
            self.configuration.host + path,
            query_params=query,
            headers=headers,
            body=data,
            _request_timeout=request_timeout,
        )
        if not preload_content:
            result: Any = response
        elif response_type == "bytes":
            result = response.data
        elif response_type:
            result = self.deserialize(response, response_type)
        else:
            result = None
        if return_data_only or return_data_only is None:
            return result
        return result, response.status, response.getheaders()

    # Serialisation ---------------------------------------------------------------------

    def sanitize_for_serialization(self, obj: Any) -> Any:
        """A model, dict, list or value as JSON-ready data; ``None`` fields are left out."""
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return obj
        if isinstance(obj, (list, tuple)):
            return [self.sanitize_for_serialization(v) for v in obj]
        if isinstance(obj, (datetime.datetime, datetime.date)):
            return obj.isoformat()
        if isinstance(obj, ApiModel):
            obj = {
                obj.attribute_map[name]: getattr(obj, name)
                for name in obj.swagger_types
                if getattr(obj, name) is not None
            }
        if isinstance(obj, dict):
            return {str(k): self.sanitize_for_serialization(v) for k, v in obj.items()}
        return str(obj)

    def deserialize(self, response: rest.RESTResponse, response_type: str) -> Any:
        """The response body as ``response_type`` (a model class name, ``object``, ...)."""
        if not response.data:
            return None
        try:
            data = json.loads(response.data)
        except ValueError:
            data = response.data.decode("utf-8", errors="replace")
        return self.deserialize_data(data, response_type)

    def deserialize_data(self, data: Any, klass: str) -> Any:
        if data is None:
            return None
        matched = _LIST.match(klass)
        if matched:
            return [self.deserialize_data(v, matched.group(1)) for v in data or []]
        matched = _DICT.match(klass)
        if matched:
            return {k: self.deserialize_data(v, matched.group(2)) for k, v in data.items()}
        if klass == "object":
            return data
        if klass == "bool":
            return _boolean(data)
        if klass in ("datetime", "date"):
            return _datetime(data, klass)
        if klass in _PRIMITIVES:
            return _primitive(data, klass)
        model = MODELS[klass]
        if not isinstance(data, dict):
            return data
        # Fields the server adds later are ignored: a newer server never breaks the client.
        values = {
            name: self.deserialize_data(data[model.attribute_map[name]], kind)
            for name, kind in model.swagger_types.items()
            if model.attribute_map[name] in data
        }
        return model(**values)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _primitive(data: Any, klass: str) -> Any:
    # int64 fields may come as JSON strings (proto3 JSON): "timeout": "0".
    if data == "" and klass != "str":
        return None
    try:
        return _PRIMITIVES[klass](data)
    except (TypeError, ValueError):
        return data


def _boolean(data: Any) -> Any:
    if isinstance(data, str) and data.lower() in ("true", "false"):
        return data.lower() == "true"
    return data


def _datetime(data: Any, klass: str) -> Any:
    if not isinstance(data, str):
        return data
    if not data:
        return None
    text = data.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python 3.9's fromisoformat takes 0, 3 or 6 fraction digits only.
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return data
    return parsed.date() if klass == "date" else parsed


def _multipart(files: dict[str, Any]) -> tuple[bytes, str]:
    """``files`` (form field name → bytes, str, or ``(filename, bytes)``) as multipart."""
    import uuid

    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for field, value in files.items():
        filename, content = value if isinstance(value, tuple) else (field, value)
        if isinstance(content, str):
            content = content.encode("utf-8")
        base_name = _header_quote(filename.rsplit("/", 1)[-1])
        disposition = f'form-data; name="{_header_quote(field)}"; filename="{base_name}"'
        parts.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _header_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")

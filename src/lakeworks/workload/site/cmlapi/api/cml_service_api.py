"""``CMLServiceApi``: one method per API v2 operation (see ``operations.OPERATIONS``).

Conventions (compat §6.2): the body comes first, then the path ids, in the order of the
path; both may be given as keywords too. Query parameters are keywords. Every method takes
``async_req=True`` (returns an ``AsyncResult`` whose ``.get()`` gives the answer) and
``_request_timeout``; ``<name>_with_http_info`` returns ``(data, status, headers)``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..api_client import ApiClient
from ..rest import ApiTypeError, ApiValueError
from .operations import OPERATIONS, Operation

_COMMON = (
    "async_req",
    "_return_http_data_only",
    "_preload_content",
    "_request_timeout",
)


class CMLServiceApi:
    """The client of API v2.

    Example::

        api = cmlapi.default_client()
        project_id = os.environ["CDSW_PROJECT_ID"]
        job = api.list_jobs(project_id).jobs[0]
        run = api.create_job_run(cmlapi.CreateJobRunRequest(), project_id, job.id)
        print(api.get_job_run(project_id, job.id, run.id).status)
    """

    def __init__(self, api_client: ApiClient | None = None) -> None:
        self.api_client = api_client or ApiClient()

    def _invoke(self, op: Operation, args: tuple, kwargs: dict[str, Any]) -> Any:
        names = (("body",) if op.body else ()) + op.path_params
        if len(args) > len(names):
            raise ApiTypeError(
                f"{op.name}() takes {len(names)} positional arguments "
                f"({', '.join(names) or 'none'}) but {len(args)} were given"
            )
        values: dict[str, Any] = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names and key not in op.query and key not in _COMMON:
                raise ApiTypeError(
                    f"Got an unexpected keyword argument '{key}' to method {op.name}"
                )
            if key in values:
                raise ApiTypeError(f"{op.name}() got multiple values for '{key}'")
            values[key] = value
        for name in names:
            if values.get(name) is None:
                if name in op.optional:
                    values[name] = ""
                    continue
                raise ApiValueError(
                    f"Missing the required parameter `{name}` when calling `{op.name}`"
                )
        path_params = {name: values[name] for name in op.path_params}
        query = [(name, values[name]) for name in op.query if values.get(name) is not None]
        return self.api_client.call_api(
            op.path,
            op.method,
            path_params=path_params,
            query_params=query,
            body=values.get("body"),
            response_type=op.response,
            async_req=values.get("async_req"),
            _return_http_data_only=values.get("_return_http_data_only", True),
            _preload_content=values.get("_preload_content", True),
            _request_timeout=values.get("_request_timeout"),
        )

    def upload_file(
        self,
        project_id: str,
        files: dict[str, Any] | list[str] | str | None = None,
        path: str = "",
        **kwargs: Any,
    ) -> Any:
        """Upload files into the project (multipart). ``files`` maps a path in the project
        (relative to ``path``) to its content (bytes or str), or is a list of local file
        names (each lands in ``path`` under its base name).

        Example::

            api.upload_file(project_id, {"data/train.csv": b"a,b\\n1,2\\n"})
            api.upload_file(project_id, ["report.pdf"], path="reports")
        """
        for key in kwargs:
            if key not in _COMMON:
                raise ApiTypeError(
                    f"Got an unexpected keyword argument '{key}' to method upload_file"
                )
        if not project_id:
            raise ApiValueError(
                "Missing the required parameter `project_id` when calling `upload_file`"
            )
        if not files:
            raise ApiValueError("Missing the required parameter `files` when calling `upload_file`")
        parts: dict[str, Any] = {}
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if isinstance(files, dict):
            for name, content in files.items():
                parts[prefix + name.lstrip("/")] = content
        else:
            for local in [files] if isinstance(files, str) else files:
                with open(local, "rb") as handle:
                    parts[prefix + os.path.basename(local)] = handle.read()
        return self.api_client.call_api(
            "/api/v2/projects/{project_id}/files",
            "POST",
            path_params={"project_id": project_id},
            files=parts,
            response_type="ListProjectFilesResponse",
            async_req=kwargs.get("async_req"),
            _return_http_data_only=kwargs.get("_return_http_data_only", True),
            _preload_content=kwargs.get("_preload_content", True),
            _request_timeout=kwargs.get("_request_timeout"),
        )


def _method(op: Operation, http_info: bool) -> Callable[..., Any]:
    def call(self: CMLServiceApi, *args: Any, **kwargs: Any) -> Any:
        if http_info:
            kwargs["_return_http_data_only"] = False
        return self._invoke(op, args, kwargs)

    call.__name__ = op.name + ("_with_http_info" if http_info else "")
    call.__qualname__ = f"CMLServiceApi.{call.__name__}"
    call.__doc__ = _doc(op, http_info)
    return call


def _doc(op: Operation, http_info: bool) -> str:
    params = (["body"] if op.body else []) + list(op.path_params)
    signature = ", ".join(params + [f"{q}=None" for q in op.query] + ["async_req=False"])
    returns = op.response or "None"
    if http_info:
        returns = f"({returns}, status, headers)"
    lines = [
        f"{op.method} {op.path}",
        "",
        f"    {op.name}{'_with_http_info' if http_info else ''}({signature}) -> {returns}",
        "",
    ]
    if op.body:
        lines.append(f"``body`` is a ``cmlapi.{op.body}`` or a plain dict.")
    example_args = ", ".join((["body"] if op.body else []) + list(op.path_params))
    lines += ["", "Example::", "", f"    result = api.{op.name}({example_args})"]
    return "\n".join(lines)


for _op in OPERATIONS:
    setattr(CMLServiceApi, _op.name, _method(_op, http_info=False))
    setattr(CMLServiceApi, _op.name + "_with_http_info", _method(_op, http_info=True))

"""/api/v2/projects/{id}/files: list, upload, download, write, rename, mkdir, delete.

CML's custom verbs ride on the path (``…/files/data/x.csv:download``), so one route per method
takes the whole remainder and splits the verb off.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import FileMove, file_out
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.errors import InvalidInput
from lakeworks.services import files

router = APIRouter(tags=["files"], route_class=StrictJSONRoute)

VERBS = ("download", "mkdir")


def _split_verb(path: str) -> tuple[str, str]:
    head, sep, verb = path.rpartition(":")
    if sep and verb in VERBS:
        return head, verb
    return path, ""


# ``…/{path}:download`` answers the file itself.
BYTES_CONTENT = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
DOWNLOAD: dict[str, Any] = {
    "description": "A listing or upload (JSON), a new folder (``:mkdir``), or the file's bytes "
    "(``:download``).",
    "content": BYTES_CONTENT,
}
# A route that answers a file (``stream_download``).
FILE_BYTES: dict[str, Any] = {"description": "The file's bytes.", "content": BYTES_CONTENT}


def _download(platform: Any, principal: Any, project_id: str, path: str) -> StreamingResponse:
    download = files.open_download(platform, principal, project_id, path)
    return stream_download(
        download, mimetypes.guess_type(download.name)[0] or "application/octet-stream"
    )


def stream_download(
    download: files.Download, media_type: str = "application/octet-stream"
) -> StreamingResponse:
    """A checked, open file as an attachment. FileResponse would open the path again, after
    the check: the checked handle is streamed instead."""
    quoted = quote(download.name)
    disposition = (
        f'attachment; filename="{download.name}"'
        if quoted == download.name
        else f"attachment; filename*=utf-8''{quoted}"
    )
    return StreamingResponse(
        download.chunks(),
        media_type=media_type,
        headers={"Content-Disposition": disposition, "Content-Length": str(download.size)},
    )
    return StreamingResponse(
        download.chunks(),
        media_type=mimetypes.guess_type(download.name)[0] or "application/octet-stream",
        headers={"Content-Disposition": disposition, "Content-Length": str(download.size)},
    )


@router.get(
    "/projects/{project_id}/files",
    operation_id="list_project_files",
    response_model=responses.ListProjectFilesResponse,
)
@router.get(
    "/projects/{project_id}/files/{path:path}",
    operation_id="list_project_files_at",
    response_model=responses.ListProjectFilesResponse,
    responses={200: DOWNLOAD},
)
def list_files(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    path: str = "",
) -> Any:
    path, verb = _split_verb(path)
    if verb == "download":
        return _download(platform, principal, project_id, path)
    if verb:
        raise InvalidInput(f":{verb} needs POST.")
    return {"files": [file_out(e) for e in files.list_dir(platform, principal, project_id, path)]}


@router.post(
    "/projects/{project_id}/files",
    operation_id="upload_file",
    response_model=responses.ListProjectFilesResponse,
)
@router.post(
    "/projects/{project_id}/files/{path:path}",
    operation_id="project_file_action",
    response_model=responses.ListProjectFilesResponse | responses.FileInfo,
    responses={200: DOWNLOAD},
)
async def upload_or_action(
    project_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    path: str = "",
) -> Any:
    """Multipart upload (each part's field name is its path; a part named ``file`` lands in
    ``path`` under its own file name), or a ``:download`` / ``:mkdir`` verb on a path."""
    path, verb = _split_verb(path)
    if verb == "download":
        return await run_in_threadpool(_download, platform, principal, project_id, path)
    if verb == "mkdir":
        return file_out(await run_in_threadpool(files.mkdir, platform, principal, project_id, path))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Upload files as multipart/form-data (field name = file path).")
    form = await request.form(max_files=10_000, max_fields=10_000)
    folder = str(form.get("path") or path or "")
    stored = []
    try:
        for key, value in form.multi_items():
            if not isinstance(value, UploadFile):
                continue
            target = f"{folder}/{value.filename}" if key in ("file", "files") else key
            if key in ("file", "files") and not value.filename:
                raise InvalidInput("An uploaded file has no name.")
            stored.append(
                await run_in_threadpool(
                    files.write_stream, platform, principal, project_id, target, value.file
                )
            )
    finally:
        await form.close()
    if not stored:
        raise InvalidInput("The upload held no files.")
    return {"files": [file_out(e) for e in stored]}


@router.put(
    "/projects/{project_id}/files/{path:path}",
    operation_id="write_project_file",
    response_model=responses.FileInfo,
)
async def write_file(
    project_id: str, path: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Lakeworks extension: the raw request body becomes the file's content."""
    content = await request.body()
    entry = await run_in_threadpool(
        files.write_bytes, platform, principal, project_id, path, content
    )
    return file_out(entry)


@router.patch(
    "/projects/{project_id}/files/{path:path}",
    operation_id="update_project_file_metadata",
    response_model=responses.FileInfo,
)
def move_file(
    project_id: str, path: str, body: FileMove, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return file_out(files.move(platform, principal, project_id, path, body.path))


@router.delete(
    "/projects/{project_id}/files/{path:path}", operation_id="delete_project_file", status_code=204
)
def delete_file(
    project_id: str, path: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    files.delete(platform, principal, project_id, path)
    return Response(status_code=204)

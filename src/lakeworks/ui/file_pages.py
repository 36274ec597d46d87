"""The project file browser: folders, upload, new file or folder, rename, delete, and a text
editor. Downloads go through the API's ``…/files/{path}:download`` route."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from lakeworks.errors import (
    InvalidInput,
    LakeworksError,
    PayloadTooLarge,
    http_status,
)
from lakeworks.services import files, projects
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.filters import urlpath
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()
# Git's own folder of a git project: its internals, not project files (the API still lists it).
HIDDEN = frozenset({".git"})


@dataclass(frozen=True)
class Opened:
    """A file as the editor shows it: its text, or why it cannot be shown as text."""

    text: str | None
    crlf: bool = False
    reason: str = ""


def join(folder: str, name: str) -> str:
    return "/".join(p for p in (folder.strip("/"), name.strip().strip("/")) if p)


def parent_of(path: str) -> str:
    parent = PurePosixPath(path.strip("/")).parent.as_posix()
    return "" if parent == "." else parent


def crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of every folder from the root down to ``path``."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


def browse_url(project_id: str, path: str) -> str:
    return (
        f"/projects/{project_id}/files/{urlpath(path)}" if path else f"/projects/{project_id}/files"
    )


def _open(platform: Platform, principal: Principal, project_id: str, path: str) -> Opened:
    limit = platform.settings.max_editable_bytes
    try:
        raw = files.read_bytes(platform, principal, project_id, path, limit=limit)
    except PayloadTooLarge:
        return Opened(
            None, reason=f"This file is larger than the editor opens ({limit // 1024} KB)."
        )
    if b"\x00" in raw:
        return Opened(None, reason="This is a binary file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Opened(None, reason="This file is not UTF-8 text.")
    return Opened(text, crlf="\r\n" in text)


def _page(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    path: str,
    *,
    draft: str | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    """The folder listing or the file view of ``path``; ``draft`` keeps unsaved editor text."""
    view = projects.get(platform, principal, project_id)
    entry = files.stat(platform, principal, project_id, path)
    context = {
        "nav": "projects",
        "tab": "files",
        "view": view,
        "project": view.project,
        "entry": entry,
        "path": entry.path if entry.path != "." else "",
        "crumbs": crumbs(entry.path if entry.path != "." else ""),
        "can_write": projects.allowed(view, Action.WRITE_FILES),
    }
    if entry.is_dir:
        context["entries"] = [
            e
            for e in files.list_dir(platform, principal, project_id, path)
            if e.path not in HIDDEN  # as CML's file browser, which never shows them
        ]
        template = "files/browser.html"
    else:
        opened = _open(platform, principal, project_id, path)
        if draft is not None:
            opened = Opened(draft, crlf=opened.crlf)
        context["opened"] = opened
        context["folder"] = parent_of(entry.path)
        template = "files/editor.html"
    return render(request, template, context, status=status, error=error or None)


@router.get("/projects/{project_id}/files")
@router.get("/projects/{project_id}/files/{path:path}")
def browse(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, path: str = ""
) -> Response:
    return _page(request, platform, principal, project_id, path)


def _failed(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    path: str,
    exc: LakeworksError,
    draft: str | None = None,
) -> Response:
    form_error(request, exc)
    return _page(
        request,
        platform,
        principal,
        project_id,
        path,
        draft=draft,
        status=http_status(exc),
        error=exc.message,
    )


@router.post("/projects/{project_id}/files:save")
def save(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    path: Annotated[str, Form()] = "",
    content: Annotated[str, Form()] = "",
    newline: Annotated[str, Form()] = "lf",
) -> Response:
    # Browsers submit textarea text with CRLF line ends; store the file's own convention.
    text = content.replace("\r\n", "\n")
    if newline == "crlf":
        text = text.replace("\n", "\r\n")
    try:
        files.write_bytes(platform, principal, project_id, path, text.encode("utf-8"))
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, path, exc, draft=content)
    flash(request, f"Saved {path}.")
    return redirect(browse_url(project_id, path))


@router.post("/projects/{project_id}/files:upload")
def upload(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    uploads: Annotated[list[UploadFile], File(default_factory=list)],
    folder: Annotated[str, Form()] = "",
) -> Response:
    stored = []
    try:
        chosen = [u for u in uploads if u.filename]
        if not chosen:
            raise InvalidInput("Choose one or more files to upload.")
        for upload in chosen:
            target = join(folder, upload.filename or "")
            stored.append(files.write_stream(platform, principal, project_id, target, upload.file))
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, folder, exc)
    flash(request, f"Uploaded {', '.join(e.name for e in stored)}.")
    return redirect(browse_url(project_id, folder))


@router.post("/projects/{project_id}/files:new-file")
def new_file(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    folder: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    path = join(folder, name)
    try:
        if not name.strip():
            raise InvalidInput("Give the new file a name.")
        created = files.write_bytes(platform, principal, project_id, path, b"", exclusive=True)
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, folder, exc)
    return redirect(browse_url(project_id, created.path))


@router.post("/projects/{project_id}/files:new-folder")
def new_folder(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    folder: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        if not name.strip():
            raise InvalidInput("Give the new folder a name.")
        created = files.mkdir(platform, principal, project_id, join(folder, name))
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, folder, exc)
    flash(request, f"Folder {created.name} created.")
    return redirect(browse_url(project_id, folder))


@router.post("/projects/{project_id}/files:rename")
def rename(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    path: Annotated[str, Form()] = "",
    new_name: Annotated[str, Form()] = "",
) -> Response:
    folder = parent_of(path)
    try:
        if not new_name.strip():
            raise InvalidInput("Give the new name.")
        moved = files.move(platform, principal, project_id, path, join(folder, new_name))
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, folder, exc)
    flash(request, f"Renamed {PurePosixPath(path).name} to {moved.path}.")
    return redirect(browse_url(project_id, parent_of(moved.path)))


@router.post("/projects/{project_id}/files:delete")
def delete(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    path: Annotated[str, Form()] = "",
) -> Response:
    folder = parent_of(path)
    try:
        files.delete(platform, principal, project_id, path)
    except LakeworksError as exc:
        return _failed(request, platform, principal, project_id, folder, exc)
    flash(request, f"Deleted {path}.")
    return redirect(browse_url(project_id, folder))

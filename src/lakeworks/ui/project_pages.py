"""Projects: the list with search, the create form (blank, template, git, upload) and the
overview with the rendered README."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from lakeworks.amps import runner as amp_runner
from lakeworks.errors import InvalidInput, LakeworksError, NotFound, http_status
from lakeworks.services import files, projects
from lakeworks.services.projects import ProjectSourceSpec
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.file_pages import HIDDEN
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

PAGE_SIZE = 20
SCOPES = {
    "mine": "Your projects",
    "visible": "All you can see",
    "all": "Every project",
}
SOURCES = ("blank", "template", "git", "upload", "amp")
README_NAMES = ("readme.md", "readme.markdown", "readme.txt", "readme")


@router.get("/projects")
def project_list(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    q: str = "",
    scope: str = "mine",
    page: int = 1,
) -> Response:
    scope = scope if scope in SCOPES and (scope != "all" or principal.is_admin) else "mine"
    page = max(page, 1)
    views, more = projects.list_projects(
        platform,
        principal,
        filters={"name": q.strip()} if q.strip() else None,
        sort=[("updated_at", False)],
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        include_public=scope == "visible",
        include_all=scope == "all",
    )
    scopes = {k: v for k, v in SCOPES.items() if k != "all" or principal.is_admin}
    return render(
        request,
        "projects/list.html",
        {
            "nav": "projects",
            "views": views,
            "q": q,
            "scope": scope,
            "scopes": scopes,
            "page": page,
            "more": more,
        },
    )


def _new_form(
    request: Request, form: dict[str, str], *, status: int = 200, error: str = ""
) -> Response:
    return render(
        request,
        "projects/new.html",
        {"nav": "projects", "form": form, "templates": projects.available_templates()},
        status=status,
        error=error or None,
    )


@router.get("/projects/new")
def new_project_form(
    request: Request, principal: UserDep, source: str = "blank", git_url: str = ""
) -> Response:
    return _new_form(
        request,
        {
            "source": source if source in SOURCES else "blank",
            "visibility": "private",
            "amp_git_url": git_url,
        },
    )


@router.post("/projects/new")
def create_project(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    visibility: Annotated[str, Form()] = "private",
    source: Annotated[str, Form()] = "blank",
    template: Annotated[str, Form()] = "",
    git_url: Annotated[str, Form()] = "",
    git_ref: Annotated[str, Form()] = "",
    archive: Annotated[UploadFile | None, File()] = None,
    amp_git_url: Annotated[str, Form()] = "",
    amp_git_ref: Annotated[str, Form()] = "",
) -> Response:
    if source == "amp":
        # An AMP is configured before its project exists (its variables, its runtime).
        if not amp_git_url.strip():
            error = "Give the git URL of the AMP's repository."
            form = {"name": name, "source": source, "visibility": visibility}
            return _new_form(request, form, status=400, error=error)
        query = {"git_url": amp_git_url.strip(), "git_ref": amp_git_ref.strip(), "name": name}
        return redirect("/amps/configure", query=query)
    form = {
        "name": name,
        "description": description,
        "visibility": visibility,
        "source": source,
        "template": template,
        "git_url": git_url,
        "git_ref": git_ref,
    }
    with tempfile.TemporaryDirectory(prefix="lakeworks-upload-") as tmp:
        try:
            spec = _source_spec(source, template, git_url, git_ref, archive, Path(tmp))
            project = projects.create(
                platform,
                principal,
                name=name,
                description=description,
                visibility=visibility,
                source=spec,
            )
        except LakeworksError as exc:
            form_error(request, exc)
            return _new_form(request, form, status=http_status(exc), error=exc.message)
    flash(request, f"Project {project.name!r} created.")
    return redirect(f"/projects/{project.id}")


def _source_spec(
    source: str,
    template: str,
    git_url: str,
    git_ref: str,
    archive: UploadFile | None,
    tmp: Path,
) -> ProjectSourceSpec:
    """The form's choice as a source; an upload is first spooled to ``tmp``."""
    if source == "upload":
        if archive is None or not archive.filename:
            raise InvalidInput("Choose a .zip, .tar or .tar.gz archive to upload.")
        path = tmp / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(archive.file, out)
        return projects.parse_source("", "", archive=path)
    if source == "git":
        if not git_url.strip():
            raise InvalidInput("Give the URL of the git repository to clone.")
        spec = projects.parse_source("git", git_url.strip())
        return ProjectSourceSpec(spec.kind, git_url=spec.git_url, git_ref=git_ref.strip())
    if source == "template":
        if not template:
            raise InvalidInput("Choose a template.")
        return projects.parse_source(template, "")
    return projects.parse_source("blank", "")


@router.get("/projects/{project_id}")
def overview(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    entries = [
        e for e in files.list_dir(platform, principal, project_id, "") if e.path not in HIDDEN
    ]
    readme_entry = next(
        (e for e in entries if not e.is_dir and e.name.lower() in README_NAMES), None
    )
    readme, readme_note = None, ""
    if readme_entry is not None:
        try:
            raw = files.read_bytes(
                platform,
                principal,
                project_id,
                readme_entry.path,
                limit=platform.settings.max_editable_bytes,
            )
            readme = raw.decode("utf-8", errors="replace")
        except (NotFound, InvalidInput):
            readme = None  # removed or replaced by a folder since the listing
        except LakeworksError as exc:
            readme_note = exc.message
    return render(
        request,
        "projects/overview.html",
        {
            "nav": "projects",
            "tab": "overview",
            "view": view,
            "project": view.project,
            "entries": entries,
            "readme_entry": readme_entry,
            "readme": readme,
            "readme_is_markdown": bool(
                readme_entry and readme_entry.name.lower().endswith(("md", "markdown"))
            ),
            "readme_note": readme_note,
            "amp": amp_runner.find(platform, principal, project_id),
        },
    )

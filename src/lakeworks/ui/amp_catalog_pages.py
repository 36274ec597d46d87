"""The AMPs page (left navigation "AMPs", as CML): the catalog's cards with search, the
Configure form (the AMP's variables, the runtime it will get) and Launch, which creates the
project and starts its setup, landing on the project's AMP progress page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from lakeworks.amps import catalog, runner
from lakeworks.amps import spec as amp_spec
from lakeworks.errors import InvalidInput, LakeworksError, http_status
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

ENV_PREFIX = "env."


@router.get("/amps")
def amp_catalog(
    request: Request, platform: PlatformDep, principal: UserDep, q: str = ""
) -> Response:
    loaded = catalog.load(platform.settings)
    return render(
        request,
        "amps/catalog.html",
        {
            "nav": "amps",
            "q": q,
            "entries": loaded.search(q),
            "total": len(loaded.entries),
            # Catalog files a site added that cannot be used: the admins can fix them.
            "problems": loaded.problems if principal.is_admin else [],
        },
    )


@router.get("/amps/{entry_id}/image")
def amp_image(platform: PlatformDep, principal: UserDep, entry_id: str) -> Response:
    entry = catalog.load(platform.settings).get(entry_id)
    if entry.image is None:
        return Response(status_code=404)
    return FileResponse(
        entry.image,
        media_type=catalog.IMAGE_TYPES[entry.image.suffix.lower()],
        headers={"Cache-Control": "private, max-age=300"},
    )


def _source(
    platform: PlatformDep, entry_id: str, git_url: str, git_ref: str
) -> tuple[catalog.Entry | None, amp_spec.AmpSpec]:
    """The AMP to configure: a catalog entry (its spec read, or fetched from git), or any git
    URL (New Project → AMPs)."""
    if entry_id:
        entry = catalog.load(platform.settings).get(entry_id)
        if entry.problem:
            raise InvalidInput(f"The AMP {entry.title!r} cannot be installed: {entry.problem}")
        if entry.spec is not None:
            return entry, entry.spec
        return entry, catalog.read_git(platform.settings, entry.git_url)
    if not git_url.strip():
        raise InvalidInput("Give the git URL of the AMP's repository.")
    return None, catalog.read_git(platform.settings, git_url.strip(), git_ref.strip())


def _configure_page(
    request: Request,
    platform: PlatformDep,
    entry: catalog.Entry | None,
    spec: amp_spec.AmpSpec,
    form: dict[str, Any],
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    return render(
        request,
        "amps/configure.html",
        {
            "nav": "amps",
            "entry": entry,
            "spec": spec,
            "form": form,
            "variables": catalog.variables(spec),
            "runtime": catalog.runtime_choice(platform.runtimes.catalog, spec),
            "needs": catalog.needs(spec),
        },
        status=status,
        error=error or None,
    )


@router.get("/amps/configure")
def amp_configure(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    entry: str = "",
    git_url: str = "",
    git_ref: str = "",
    name: str = "",
) -> Response:
    try:
        found, spec = _source(platform, entry, git_url, git_ref)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        if entry:
            return redirect("/amps")
        return redirect("/projects/new", query={"source": "amp", "git_url": git_url})
    form = {
        "entry": entry,
        "git_url": git_url.strip(),
        "git_ref": git_ref.strip(),
        "name": name.strip() or (found.title if found else spec.name),
        "visibility": "private",
        "values": {v.name: v.default for v in spec.environment_variables},
    }
    return _configure_page(request, platform, found, spec, form)


@router.post("/amps/launch")
async def amp_launch(request: Request, platform: PlatformDep, principal: FormUserDep) -> Response:
    data = await request.form()
    text = {k: v for k, v in data.items() if isinstance(v, str)}
    entry_id, git_url, git_ref = (
        text.get("entry", ""),
        text.get("git_url", "").strip(),
        text.get("git_ref", "").strip(),
    )
    values = {k[len(ENV_PREFIX) :]: v for k, v in text.items() if k.startswith(ENV_PREFIX)}
    form: dict[str, Any] = {
        "entry": entry_id,
        "git_url": git_url,
        "git_ref": git_ref,
        "name": text.get("name", ""),
        "visibility": text.get("visibility", "private"),
        "values": values,
    }
    try:
        found, spec = _source(platform, entry_id, git_url, git_ref)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect("/amps")
    declared = {v.name for v in spec.environment_variables}
    try:
        setup = runner.create_project(
            platform,
            principal,
            name=text.get("name", ""),
            visibility=text.get("visibility", "private"),
            description=spec.description[:2048],
            git_url=found.git_url if found else git_url,
            git_ref="" if found else git_ref,
            directory=found.directory if found else None,
            environment={k: v for k, v in values.items() if k in declared},
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _configure_page(
            request,
            platform,
            found,
            spec,
            form,
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, f"Project {form['name']!r} created; its AMP setup has started.")
    return redirect(f"/projects/{setup.project_id}/amp")

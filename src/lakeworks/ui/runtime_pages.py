"""Site administration → Runtimes: every runtime's state, size and build log; build one ahead
of its first use, remove one nobody uses."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from lakeworks.errors import LakeworksError
from lakeworks.services import runtimes
from lakeworks.ui.deps import AdminDep, FormUserDep, PlatformDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()


@router.get("/admin/runtimes")
def runtime_list(request: Request, platform: PlatformDep, principal: AdminDep) -> Response:
    states = runtimes.states(platform, principal)
    return render(
        request,
        "admin/runtimes.html",
        {
            "nav": "admin",
            "tab": "runtimes",
            "states": states,
            "stale": runtimes.stale(platform, principal),
            "building": any(s.state == "building" for s in states),
            "runtimes_dir": platform.runtimes.runtimes_dir,
        },
    )


@router.post("/admin/runtimes/{python}/build")
def build_runtime(
    request: Request, platform: PlatformDep, principal: FormUserDep, python: str
) -> Response:
    try:
        state = runtimes.build(platform, principal, python)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect("/admin/runtimes")
    label = f"Python {state.python} {state.edition}"
    if state.state == "built":
        flash(request, f"The {label} runtime is built.")
    else:
        flash(request, f"Building the {label} runtime (about 2 minutes).")
    return redirect(f"/admin/runtimes/{python}/log")


@router.post("/admin/runtimes/remove/{name}")
def remove_runtime(
    request: Request, platform: PlatformDep, principal: FormUserDep, name: str
) -> Response:
    try:
        runtimes.remove(platform, principal, name)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect("/admin/runtimes")
    flash(request, f"Runtime {name} removed.")
    return redirect("/admin/runtimes")


@router.get("/admin/runtimes/{python}/log")
def runtime_log(
    request: Request, platform: PlatformDep, principal: AdminDep, python: str
) -> Response:
    text, offset, state = runtimes.build_log(platform, principal, python)
    return render(
        request,
        "admin/runtime_log.html",
        {"nav": "admin", "tab": "runtimes", "state": state, "text": text, "offset": offset},
    )

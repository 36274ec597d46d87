"""Navigation entries whose features arrive in later releases: honest empty states."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from lakeworks.ui.deps import UserDep
from lakeworks.ui.pages import render

router = APIRouter()


@dataclass(frozen=True)
class Feature:
    slug: str
    title: str
    summary: str  # what the page will do, in CML's terms
    meanwhile: str  # what people can do today instead


FEATURES = {
    f.slug: f
    for f in (
        Feature(
            "sessions",
            "Sessions",
            "Interactive sessions run JupyterLab or a Python console in a project, with the "
            "project mounted at /home/cdsw and its environment variables set.",
            "Edit project files in the file browser, or work on them with the API and the "
            "`lakeworks` command.",
        ),
        Feature(
            "experiments",
            "Experiments",
            "Experiments track runs, parameters, metrics and artifacts through the embedded "
            "MLflow server, one set per project.",
            "Keep results in project files for now.",
        ),
        Feature(
            "models",
            "Models",
            "Models are built from project code and served as REST endpoints with access keys, "
            "replicas and monitoring.",
            "Keep model code in a project so it is ready to deploy.",
        ),
        Feature(
            "applications",
            "Applications",
            "Applications serve long-running web apps (Streamlit, Flask, Dash...) from a "
            "project at their own address.",
            "Keep the application's code in a project.",
        ),
    )
}


def _register(feature: Feature) -> None:
    def page(request: Request, principal: UserDep) -> Response:
        return render(request, "roadmap.html", {"nav": feature.slug, "feature": feature})

    router.add_api_route(f"/{feature.slug}", page, methods=["GET"], name=f"{feature.slug}_page")


for _feature in FEATURES.values():
    _register(_feature)

"""Every UI page, gathered into one router that ``create_app`` mounts at the root."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.ui import (
    account_pages,
    admin_pages,
    auth_pages,
    collaborator_pages,
    file_pages,
    job_form_pages,
    job_pages,
    project_pages,
    roadmap_pages,
    settings_pages,
    team_pages,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth_pages,
    project_pages,
    file_pages,
    collaborator_pages,
    settings_pages,
    # Before job_pages: /jobs/new must not be read as a job id.
    job_form_pages,
    job_pages,
    account_pages,
    admin_pages,
    team_pages,
    roadmap_pages,
):
    router.include_router(module.router)

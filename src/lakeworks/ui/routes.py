"""Every UI page, gathered into one router that ``create_app`` mounts at the root."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.ui import (
    account_pages,
    admin_pages,
    amp_catalog_pages,
    amp_pages,
    application_pages,
    auth_pages,
    collaborator_pages,
    data_connection_pages,
    data_pages,
    experiment_pages,
    file_pages,
    job_form_pages,
    job_pages,
    legacy_experiment_pages,
    model_monitoring_pages,
    model_pages,
    project_pages,
    runtime_pages,
    session_pages,
    settings_pages,
    team_pages,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth_pages,
    project_pages,
    amp_catalog_pages,
    amp_pages,
    file_pages,
    collaborator_pages,
    settings_pages,
    data_connection_pages,
    # Before job_pages: /jobs/new must not be read as a job id.
    job_form_pages,
    job_pages,
    legacy_experiment_pages,
    model_pages,
    model_monitoring_pages,
    experiment_pages,
    account_pages,
    admin_pages,
    runtime_pages,
    team_pages,
    session_pages,
    application_pages,
    data_pages,
):
    router.include_router(module.router)

"""All API v2 routers."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.api import files, jobs, projects, resources, users

router = APIRouter()
router.include_router(projects.router)
router.include_router(files.router)
router.include_router(users.router)
router.include_router(jobs.router)
router.include_router(resources.router)

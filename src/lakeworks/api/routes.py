"""All API v2 routers."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.api import (
    amps,
    applications,
    data,
    datasets,
    experiments,
    files,
    jobs,
    legacy_experiments,
    model_metrics,
    models,
    projects,
    resources,
    runtimes,
    users,
    workers,
)
from lakeworks.api.sdk import router as sdk_router

router = APIRouter()
router.include_router(projects.router)
router.include_router(files.router)
router.include_router(users.router)
router.include_router(jobs.router)
router.include_router(applications.router)
router.include_router(resources.router)
router.include_router(runtimes.router)
router.include_router(model_metrics.router)
router.include_router(experiments.router)
router.include_router(legacy_experiments.router)  # CDSW's Run Experiment (compat §3.4)
router.include_router(models.router)
router.include_router(amps.router)
router.include_router(data.router)
router.include_router(datasets.router)  # the Data page: queries, datasets, dashboards
router.include_router(workers.router)  # compat §12, for the in-workload library
router.include_router(sdk_router)  # /python.tar.gz, the cmlapi sdist

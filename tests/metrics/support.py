"""Model rows for metrics tests: a project with a model, a build and a deployment, written
straight through the store (the metrics store needs only their ids and project)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


@dataclass(frozen=True)
class Deployed:
    project: Project
    model_id: str
    build_id: str
    deployment_id: str


def make_project(platform: Platform, owner: User, name: str = "Churn") -> Project:
    return projects.create(
        platform,
        Principal(user=owner, via="cli"),
        name=name,
        source=projects.parse_source("blank", ""),
    )


def make_deployment(
    platform: Platform, owner: User, project: Project, name: str = "churn"
) -> Deployed:
    model_id, build_id, deployment_id = (str(uuid.uuid4()) for _ in range(3))
    with platform.store.transaction() as uow:
        uow.models.add(
            id=model_id,
            project_id=project.id,
            name=name,
            description="",
            auth_enabled=True,
            access_key_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
            access_key_sealed="",
            creator_id=owner.id,
            registered_model_id="",
        )
        uow.models.add_build(
            id=build_id,
            model_id=model_id,
            project_id=project.id,
            creator_id=owner.id,
            file_path="predict.py",
            function_name="predict",
            status=BuildStatus.BUILT.value,
            examples=[],
        )
        uow.models.add_deployment(
            id=deployment_id,
            model_id=model_id,
            build_id=build_id,
            project_id=project.id,
            deployer_id=owner.id,
            status=DeploymentStatus.DEPLOYED.value,
            environment={},
        )
    return Deployed(project, model_id, build_id, deployment_id)

"""Fixtures for direct service tests: a platform on the fake executor and a project with one
member of every role.

Provides:
- ``executor`` / ``fake_platform``: a FakeExecutor and a Platform using it (runtimes from the
  shared test cache, so a job run starts without building one).
- ``members``: a private project owned by ``owner`` with one collaborator of each role
  (``admin``, ``contributor``, ``operator``, ``viewer``) and a signed-up ``outsider``, as
  principals by role name; ``members.project_id`` is the project.
- ``audit_rows(platform, action)``: the audit events of an action, oldest first.
- ``make_job(platform, principal, project_id, **fields)``: a job (default name ``Train``,
  script ``train.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.scheduler.conftest import RUNTIME_CACHE

from lakeworks.config import Settings
from lakeworks.entities.audit import AuditEvent
from lakeworks.entities.jobs import Job
from lakeworks.entities.users import User
from lakeworks.executors.fake import FakeExecutor
from lakeworks.services import jobs, projects, users
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

ROLES = ("owner", "admin", "contributor", "operator", "viewer", "outsider")


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def fake_platform(settings: Settings, store: Store, executor: FakeExecutor) -> Platform:
    settings = settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    return Platform(settings, store, executor=executor)


@dataclass
class Members:
    project_id: str
    by_role: dict[str, Principal] = field(default_factory=dict)

    def __getitem__(self, role: str) -> Principal:
        return self.by_role[role]


def account(platform: Platform, username: str, is_admin: bool = False) -> User:
    """A user without a password (an API-key-only account): no password hash to compute,
    which is most of a user's cost on a loaded machine."""
    return users.create_user(
        platform,
        None,
        username=username,
        password=None,
        name=username.title(),
        is_admin=is_admin,
    )


@pytest.fixture
def members(fake_platform: Platform) -> Members:
    owner = Principal(user=account(fake_platform, "owner"), via="session")
    project = projects.create(
        fake_platform, owner, name="Roles", source=projects.parse_source("", "")
    )
    found = Members(project_id=project.id, by_role={"owner": owner})
    for role in ROLES[1:]:
        found.by_role[role] = Principal(user=account(fake_platform, role), via="session")
        if role != "outsider":
            projects.set_collaborator(fake_platform, owner, project.id, role, role)
    return found


def events(platform: Platform, action: str) -> list[AuditEvent]:
    """The audit events whose action starts with ``action``, oldest first."""
    with platform.read() as uow:
        found, _total = uow.audit.query(action_prefix=action, limit=500)
    return [e for e in reversed(found) if e.action == action]


@pytest.fixture
def audit_rows() -> Callable[[Platform, str], list[AuditEvent]]:
    return events


def make_job(platform: Platform, principal: Principal, project_id: str, **fields: Any) -> Job:
    """A job of the project (``Train`` running ``train.py`` unless ``fields`` say otherwise)."""
    fields.setdefault("name", "Train")
    fields.setdefault("script", "train.py")
    return jobs.create(platform, principal, project_id, JobFields(**fields))

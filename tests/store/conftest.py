"""Fixtures of the store tests.

Provides:
- ``alice``: a user; ``project``: a project she owns (its id).
"""

from __future__ import annotations

import pytest
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.users import User
from lakeworks.store.uow import Store


@pytest.fixture
def alice(store: Store) -> User:
    return add_user(store, "alice")


@pytest.fixture
def project(store: Store, alice: User) -> str:
    with store.transaction() as uow:
        return add_project(uow, "Project", owner=alice)

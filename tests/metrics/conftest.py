"""Fixtures: ``alice`` owning project ``Churn`` with a deployed model (``deployed``), and
``bob`` with a project of his own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.metrics.support import Deployed, make_deployment, make_project

from lakeworks.entities.users import User
from lakeworks.services.platform import Platform


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


@pytest.fixture
def deployed(platform: Platform, alice: User) -> Deployed:
    return make_deployment(platform, alice, make_project(platform, alice))

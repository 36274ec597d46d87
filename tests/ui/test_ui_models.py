"""Model pages without deploying: the all-models list, and the sample code's address and key."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import models, projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A laptop install: no public URL, so the server's own address is 127.0.0.1:8000."""
    return settings.model_copy(update={"public_url": ""})


def test_samples_show_the_address_that_works_and_where_to_get_an_api_key(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    owner = Principal(user=alice, via="session")
    project = projects.create(platform, owner, name="Churn", source=projects.parse_source("", ""))
    model = models.create(platform, owner, project.id, models.ModelFields(name="Predictor"))
    assert model.auth_enabled
    login(client, "alice")
    # The browser reached the server at this address: the samples use it.
    page = client.get(
        f"/projects/{project.id}/models/{model.id}", headers={"Host": "laptop.example:8790"}
    )
    assert page.status_code == 200
    text = html.unescape(page.text)
    curl = re.search(r"data-sample-curl>(.*?)</pre>", text, re.S)
    python = re.search(r"data-sample-python>(.*?)</pre>", text, re.S)
    assert curl and python
    for sample in (curl.group(1), python.group(1)):
        # Workloads alone have CDSW_APIV2_KEY: a laptop's copy must not rely on it.
        assert "CDSW_APIV2_KEY" not in sample
        assert "http://laptop.example:8790/model" in sample
        assert "paste-an-API-key-here" in sample
        assert "create one at http://laptop.example:8790/settings/api-keys" in sample
    assert '"Authorization: Bearer $API_KEY"' in curl.group(1)
    assert re.search(r"data-endpoint>http://laptop.example:8790/model<", text)
    assert re.search(r'<a href="/settings/api-keys" data-create-key>Create an API key</a>', text)
    assert client.get("/settings/api-keys").status_code == 200

    # Without authentication the access key is enough: no API key line at all.
    with platform.store.transaction() as uow:
        uow.models.update(model.id, auth_enabled=False)
    plain = html.unescape(
        client.get(
            f"/projects/{project.id}/models/{model.id}", headers={"Host": "laptop.example:8790"}
        ).text
    )
    assert "API_KEY" not in plain.split("data-sample-curl>", 1)[1].split("</pre>", 1)[0]
    assert "data-create-key" not in plain


def test_all_models_names_the_project_and_colours_the_status(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    owner = Principal(user=alice, via="session")
    project = projects.create(
        platform, owner, name="Churn analysis", source=projects.parse_source("", "")
    )
    model = models.create(platform, owner, project.id, models.ModelFields(name="Predictor"))
    with platform.store.transaction() as uow:
        uow.models.add_build(
            id="b1",
            model_id=model.id,
            project_id=project.id,
            creator_id=alice.id,
            file_path="predict.py",
            function_name="predict",
            status="built",
            built_at=utcnow(),
        )
    login(client, "alice")
    page = client.get("/models")
    assert page.status_code == 200
    row = re.search(r'<tr data-model="Predictor">(.*?)</tr>', page.text, re.S)
    assert row
    assert f'<a href="/projects/{project.id}/models">Churn analysis</a>' in row.group(1)
    assert '<span class="badge badge-ok">built</span>' in row.group(1)

"""Issue 13 item 1 (with H4): on a laptop install the app links are the ones that work —
``http://<subdomain>.localhost:<port>/`` — and the path form is shown only when it is on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from lakeworks.config import Settings
from lakeworks.entities.applications import Application
from lakeworks.services import applications
from lakeworks.services.platform import Platform
from lakeworks.store.uow import Store


def test_a_laptop_install_links_apps_on_localhost_and_hides_the_path_form(
    tmp_path: Path, store: Store
) -> None:
    app = cast(Application, SimpleNamespace(subdomain="churn"))
    laptop = Settings(data_dir=tmp_path, host="127.0.0.1", port=8100)
    assert laptop.base_url == "http://localhost:8100"
    host_url, path_url = applications.address(Platform(laptop, store), app)
    assert host_url == "http://churn.localhost:8100/"
    assert path_url == ""  # path routing is off by default: no link that would not work

    with_paths = laptop.model_copy(update={"app_path_routing": True})
    assert applications.address(Platform(with_paths, store), app) == (
        "http://churn.localhost:8100/",
        "http://localhost:8100/apps/churn/",
    )

"""The web UI in a real browser: create a project from an archive, edit a file, share it,
and check what a viewer can and cannot do."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from lakeworks.config import Settings
from lakeworks.entities.users import User

pytestmark = pytest.mark.browser

README = "# Churn analysis\n\nPredicts which customers **leave**.\n\n- trains a model\n"
TRAIN = "import pandas as pd\n\nprint('training')\n"


def make_zip(tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("churn/README.md", README)
        archive.writestr("churn/train.py", TRAIN)
        archive.writestr("churn/data/customers.csv", "id,left\n1,0\n2,1\n")
    path = tmp_path / "churn.zip"
    path.write_bytes(buffer.getvalue())
    return path


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/projects")


def sign_out(page: Page, base: str) -> None:
    page.get_by_label("Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/login")


def test_create_edit_share_and_view_read_only(
    page: Page,
    live_server: str,
    settings: Settings,
    admin: User,
    make_user: Callable[..., User],
    tmp_path: Path,
) -> None:
    base = live_server
    make_user("vera")
    sign_in(page, base, admin.username)
    expect(page.get_by_text("You have no projects yet")).to_be_visible()

    # Create a project by uploading an archive.
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Project name").fill("Churn analysis")
    page.get_by_text("Local files").click()
    page.get_by_label("Archive").set_input_files(make_zip(tmp_path))
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(rf"{base}/projects/[a-z0-9]{{4}}(-[a-z0-9]{{4}}){{3}}$"))
    project_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("status")).to_contain_text("Project 'Churn analysis' created.")

    # The README is rendered and the files are listed.
    readme = page.locator("article.markdown")
    expect(readme.locator("h1")).to_have_text("Churn analysis")
    expect(readme.locator("strong")).to_have_text("leave")
    files = page.locator(".file-list")
    expect(files).to_contain_text("data/")
    expect(files).to_contain_text("train.py")

    # Open train.py in the editor, change it and save.
    page.get_by_role("link", name="Open browser").click()
    expect(page.locator("table.files-table")).to_contain_text("data")
    page.locator("table.files-table").get_by_role("link", name="train.py", exact=True).click()
    editor = page.get_by_label("Content of train.py")
    expect(editor).to_have_value(TRAIN)
    changed = TRAIN + "print('evaluating')\n"
    editor.fill(changed)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved train.py.")
    expect(page.get_by_label("Content of train.py")).to_have_value(changed)
    on_disk = settings.projects_dir / project_id / "train.py"
    assert on_disk.read_bytes() == changed.encode()

    # Share the project with vera as a viewer.
    page.get_by_role("link", name="Collaborators").click()
    page.get_by_label("User or team").fill("vera")
    page.locator("select[name=role]").first.select_option("viewer")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("vera is now viewer on this project.")
    expect(page.locator("table")).to_contain_text("vera")

    sign_out(page, base)
    sign_in(page, base, "vera")

    # The viewer finds the project, reads the file, and sees no way to change it.
    page.get_by_role("link", name="Churn analysis").click()
    page.locator(".file-list").get_by_role("link", name="train.py", exact=True).click()
    expect(page.locator("pre.code")).to_have_text(changed)
    expect(page.get_by_text("Read only: your role on this project is viewer.")).to_be_visible()
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.get_by_role("link", name="Files", exact=True).click()
    expect(page.locator("table.files-table")).to_contain_text("train.py")
    for control in ("Upload", "New file", "New folder"):
        expect(page.get_by_text(control, exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Delete train.py")).to_have_count(0)

    # A hand-made save with the viewer's own CSRF token is refused by the service.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    response = page.request.post(
        f"{base}/projects/{project_id}/files:save",
        form={"csrf_token": token, "path": "train.py", "content": "print('pwned')\n"},
    )
    assert response.status == 403
    assert "you need contributor or above" in response.text()
    assert on_disk.read_bytes() == changed.encode()

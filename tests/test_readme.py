"""The README's promises: its configuration table matches Settings, its commands exist, its
curl examples work as written."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.ui.conftest import live_server  # noqa: F401 (a fixture: the app on a real port)

from lakeworks.config import settings_table
from lakeworks.entities.users import User
from lakeworks.services import auth
from lakeworks.services.platform import Platform, Principal

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "regenerate the README table from settings_table()"


def test_two_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for script in ("scripts/demo", "scripts/test"):
        assert script in readme
        path = ROOT / script
        assert path.exists() and path.stat().st_mode & 0o111, f"{script} must be executable"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def _curl_examples(readme: str) -> list[str]:
    """The README's "plain HTTP" curl commands, continuation lines joined."""
    block = readme.split("Using the API with plain HTTP:", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [line.strip() for line in block.splitlines() if line.strip().startswith("curl ")]


def test_the_readme_curl_examples_work_as_written(
    live_server: str,  # noqa: F811 (the fixture imported above)
    platform: Platform,
    make_user: Callable[..., User],
    tmp_path: Path,
) -> None:
    """Run with curl itself: its ``-d`` labels the JSON as form data, as a reader's would."""
    alice = make_user("alice")
    make_user("bob")
    key = auth.create_api_key(platform, Principal(user=alice, via="cli"), "alice").secret
    # The git URL of the example, made real: a repository with one commit.
    repo = tmp_path / "churn.git"
    work = tmp_path / "churn"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("churn\n")
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "first"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(repo)], check=True)
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")

    commands = _curl_examples((ROOT / "README.md").read_text())
    assert [c.split(" -X ")[1].split()[0] if " -X " in c else "GET" for c in commands] == [
        "GET",
        "POST",
        "GET",  # the upload (-F is a POST)
        "PUT",
    ]
    env = {**os.environ, "KEY": key, "PROJECT_ID": ""}
    answers = []
    for command in commands:
        command = command.replace("http://127.0.0.1:8000", live_server)
        command = command.replace("/srv/git/churn.git", str(repo))
        command = command.replace("curl ", "curl -sS --fail-with-body ", 1)
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        answers.append(json.loads(done.stdout or "{}"))
        if " -X POST " in command and "/projects " in command + " ":
            env["PROJECT_ID"] = answers[-1]["id"]
    created = answers[1]
    assert created["name"] == "Churn"
    assert (platform.settings.projects_dir / created["id"] / "README.md").read_text() == "churn\n"
    assert (platform.settings.projects_dir / created["id"] / "data" / "train.csv").exists()
    assert answers[3]["username"] == "bob"

"""``GET /api/v2/python.tar.gz``: a deterministic sdist that ``pip install`` takes in a fresh
virtual environment with no package index, with and without build isolation; the installed
client then talks to the server from that environment (no Lakeworks there)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import venv
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakeworks.sdk import sdist

SCRIPT = """
import sys, cmlapi
api = cmlapi.default_client(sys.argv[1], sys.argv[2])
print("FROM", cmlapi.__file__)
print("PROJECTS", [p.name for p in api.list_projects().projects])
"""


def test_the_sdist_is_served_publicly_and_is_the_same_each_time(sdk_server: Any) -> None:
    first = httpx.get(f"{sdk_server.url}/api/v2/python.tar.gz")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/gzip"
    assert 'filename="cmlapi-' in first.headers["content-disposition"]
    second = httpx.get(f"{sdk_server.url}/api/v2/python.tar.gz")
    assert second.content == first.content == sdist.build()
    cached = httpx.get(
        f"{sdk_server.url}/api/v2/python.tar.gz", headers={"If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304
    with tarfile.open(fileobj=io.BytesIO(first.content)) as archive:
        names = archive.getnames()
        assert {m.mtime for m in archive.getmembers()} == {1577836800}
    root = f"cmlapi-{sdist.version()}"
    assert f"{root}/pyproject.toml" in names and f"{root}/PKG-INFO" in names
    assert f"{root}/cmlapi/api/cml_service_api.py" in names
    assert not [n for n in names if "__pycache__" in n]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("isolation", [True, False], ids=["isolated", "no-build-isolation"])
def test_pip_installs_the_served_sdist_into_a_fresh_venv(
    sdk_server: Any, alice_api: Any, tmp_path: Path, isolation: bool
) -> None:
    alice_api.create_project({"name": "From a laptop"})
    key = alice_api.api_client.default_headers["authorization"].split()[1]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    command = [python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check"]
    if not isolation:
        command.append("--no-build-isolation")
    installed = subprocess.run(
        [*command, f"{sdk_server.url}/api/v2/python.tar.gz"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    used = subprocess.run(
        [python, "-c", SCRIPT, sdk_server.url, key],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert used.returncode == 0, used.stderr
    assert f"FROM {env_dir}" in used.stdout
    assert "PROJECTS ['From a laptop']" in used.stdout
    assert sys.prefix not in used.stdout

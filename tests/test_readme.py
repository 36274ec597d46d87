"""The README's promises: its configuration table matches Settings, its commands exist."""

from __future__ import annotations

from pathlib import Path

from lakeworks.config import settings_table

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

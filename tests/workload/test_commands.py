"""``command_for`` and ``site_dir``: how the platform starts a project's script."""

from __future__ import annotations

import re

import pytest

from lakeworks.errors import InvalidInput
from lakeworks.workload import UnsupportedScript, command_for, site_dir

PYTHON = "/runtimes/python3.11-abc/bin/python"


def test_python_scripts_go_through_the_runner_with_one_argument_string() -> None:
    assert command_for("jobs/fit.py", "--rows 500 'a b'", PYTHON) == [
        PYTHON,
        "-m",
        "lakeworks_runner",
        "jobs/fit.py",
        "--rows 500 'a b'",
    ]


@pytest.mark.parametrize("arguments", [None, ""])
def test_missing_arguments_become_an_empty_string(arguments: str | None) -> None:
    assert command_for("fit.py", arguments, PYTHON)[-1] == ""


def test_notebooks_go_through_the_notebook_runner() -> None:
    assert command_for("Report.IPYNB", "x", PYTHON) == [
        PYTHON,
        "-m",
        "lakeworks_runner.notebook",
        "Report.IPYNB",
        "x",
    ]


def test_shell_scripts_run_with_bash_and_shell_split_arguments() -> None:
    assert command_for("setup/install.sh", "-v 'two words' None", PYTHON) == [
        "bash",
        "setup/install.sh",
        "-v",
        "two words",
        "None",
    ]
    assert command_for("install.sh", None, PYTHON) == ["bash", "install.sh"]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("analysis.R", "'.r' files cannot run"),
        ("Main.scala", "'.scala' files cannot run"),
        ("Makefile", "Files without an extension cannot run"),
        ("", "empty"),
    ],
)
def test_other_files_are_refused_with_a_clear_message(script: str, message: str) -> None:
    with pytest.raises(UnsupportedScript, match=message) as raised:
        command_for(script, "", PYTHON)
    # A 4xx for the API: the user picked the file.
    assert isinstance(raised.value, InvalidInput)
    if script:
        assert ".py" in raised.value.message and ".ipynb" in raised.value.message


def test_unsplittable_shell_arguments_are_refused() -> None:
    with pytest.raises(UnsupportedScript, match="Cannot split"):
        command_for("run.sh", "'unclosed", PYTHON)


def test_site_dir_holds_the_runner_and_libraries_and_nothing_imports_lakeworks() -> None:
    site = site_dir()
    for name in ("lakeworks_runner", "cdsw", "cml", "cmlapi"):
        assert (site / name / "__init__.py").is_file()
    assert (site / "cml" / "metrics_v1.py").is_file()
    assert (site / "cml" / "utils_v1.py").is_file()
    # The runtime's interpreter does not have lakeworks: nothing here may import it.
    for source in site.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(from|import)\s+lakeworks\b", text, re.MULTILINE), source

"""The ``.ipynb`` runner: cells in order in a kernel of the runtime, outputs in the log."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[str]]


def notebook(*cells: tuple[str, str]) -> str:
    """nbformat 4 JSON with (cell_type, source) cells."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "cells": [
                {
                    "cell_type": kind,
                    "id": f"cell-{index}",
                    "metadata": {},
                    "source": source,
                    **({"outputs": [], "execution_count": None} if kind == "code" else {}),
                }
                for index, (kind, source) in enumerate(cells)
            ],
        }
    )


def outputs(saved: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [cell.get("outputs", []) for cell in saved["cells"]]


def test_cells_run_in_order_with_argv_and_cwd_and_are_saved(
    run_script: Run, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run-output"
    source = notebook(
        ("code", "import os, sys\nprint('argv', sys.argv[1:])\nprint('cwd', os.getcwd())"),
        ("markdown", "# A heading"),
        ("code", "x = 41\nx + 1"),
        (
            "code",
            "import sys\nprint('to stderr', file=sys.stderr)\n"
            '!echo shell $x $GREETING; [ -n "$BASH_VERSION" ] && echo in bash',
        ),
        ("code", "files = !echo a; echo b\nprint(files)"),
    )
    result = run_script(
        source,
        "--month '2025 01'",
        name="reports/monthly.ipynb",
        LAKEWORKS_OUTPUT_DIR=str(out),
        GREETING="hi",
    )
    assert result.returncode == 0, result.stderr
    # Outputs reach the log as the kernel sends them.
    assert result.stdout.splitlines() == [
        "argv ['--month', '2025 01']",
        f"cwd {project}",
        "42",
        # Shell lines as in scripts: bash, Python names expanded, others left to the shell;
        # each output once.
        "shell 41 hi",
        "in bash",
        "['a', 'b']",
    ]
    assert "to stderr" in result.stderr
    saved = json.loads((out / "monthly.ipynb").read_text())
    cells = outputs(saved)
    assert "".join(cells[2][0]["data"]["text/plain"]) == "42"
    assert saved["cells"][2]["execution_count"] is not None
    # The project's notebook itself is left as it was.
    assert (project / "reports" / "monthly.ipynb").read_text() == source


def test_a_failing_cell_fails_the_run_and_stops_it(
    run_script: Run, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run-output"
    result = run_script(
        notebook(
            ("code", "print('first')"),
            ("code", "raise RuntimeError('no data for this month')"),
            ("code", "print('never')"),
        ),
        name="nb.ipynb",
        LAKEWORKS_OUTPUT_DIR=str(out),
    )
    assert result.returncode == 1
    assert result.stdout.strip() == "first"
    assert "RuntimeError: no data for this month" in result.stderr
    assert "\x1b[" not in result.stderr  # no terminal colours in the log
    assert "never" not in result.stdout
    # The executed notebook is kept, with the error, for the run's page.
    saved = json.loads((out / "nb.ipynb").read_text())
    assert outputs(saved)[1][0]["output_type"] == "error"
    assert outputs(saved)[2] == []


def test_without_an_output_dir_nothing_is_written_next_to_the_notebook(
    run_script: Run, project: Path
) -> None:
    result = run_script(notebook(("code", "print('ok')")), name="nb.ipynb")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert sorted(p.name for p in project.glob("*.ipynb")) == ["nb.ipynb"]


def test_an_unreadable_notebook_fails_with_a_message(run_script: Run) -> None:
    result = run_script("this is not json", name="broken.ipynb")
    assert result.returncode == 2
    assert "cannot read notebook broken.ipynb" in result.stderr


def test_a_dying_kernel_fails_the_run(run_script: Run) -> None:
    result = run_script(
        notebook(("code", "print('first')"), ("code", "import os\nos._exit(9)")),
        name="nb.ipynb",
    )
    assert result.returncode == 1
    assert result.stdout.strip() == "first"
    assert "the kernel failed" in result.stderr

"""The in-workload ``cdsw`` module and ``cml`` package (compat §3), in a real runtime."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

Run = Callable[..., subprocess.CompletedProcess[str]]


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def metrics(out: Path) -> list[dict[str, object]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_import_needs_nothing_and_the_cml_package_emulates_cdsw(run_python: Run) -> None:
    result = run_python(
        code(
            """
            import cdsw, cml, cml.utils_v1, cml.metrics_v1
            print(cdsw.__version__ == cml.__version__)
            print(cml.utils_v1._emulate_cdsw() is cdsw)
            print(cml.metrics_v1.track_metric is cdsw.track_metric)
            print(cdsw.__file__.endswith("cdsw/__init__.py"))
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 4
    assert result.stderr == ""


def test_track_metric_in_a_job_run_appends_json_lines(run_python: Run, tmp_path: Path) -> None:
    out = tmp_path / "run-output"
    result = run_python(
        code(
            """
            import cdsw, numpy as np
            from cml.metrics_v1 import track_metric
            cdsw.track_metric("accuracy", 0.93)
            cdsw.track_metric("solver", "lbfgs")
            track_metric("input_data", {"age": np.int64(37), "scores": np.array([1.5, 2.0])})
            track_metric("converged", np.bool_(True))
            """
        ),
        LAKEWORKS_OUTPUT_DIR=str(out),
    )
    assert result.returncode == 0, result.stderr
    recorded = metrics(out)
    assert [(m["key"], m["value"]) for m in recorded] == [
        ("accuracy", 0.93),
        ("solver", "lbfgs"),
        ("input_data", {"age": 37, "scores": [1.5, 2.0]}),
        ("converged", True),
    ]
    assert all(isinstance(m["timestamp_ms"], int) for m in recorded)


def test_a_metric_key_must_be_a_string(run_python: Run, tmp_path: Path) -> None:
    result = run_python(
        "import cdsw\ncdsw.track_metric(1, 2)\n", LAKEWORKS_OUTPUT_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "TypeError: metric key must be a string, not int" in result.stderr


def test_outside_a_job_run_tracking_is_a_noted_no_op(run_python: Run, project: Path) -> None:
    (project / "model.pkl").write_bytes(b"x")
    result = run_python(
        code(
            """
            import cdsw
            cdsw.track_metric("accuracy", 0.9)
            cdsw.track_metric("loss", 0.1)
            cdsw.track_file("model.pkl")
            print("carried on")
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "carried on"
    # One note, not one per call.
    assert result.stderr.count("recorded in job runs only") == 1


def test_track_file_copies_project_files_into_the_run_output(
    run_python: Run, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run-output"
    (project / "models").mkdir()
    (project / "models" / "model.pkl").write_bytes(b"weights")
    (project / "report.html").write_text("<p>report</p>")
    result = run_python(
        code(
            """
            import os, cdsw
            cdsw.track_file("report.html")
            os.chdir("models")
            cdsw.track_file("models/model.pkl")  # project-relative, whatever the cwd
            cdsw.track_file("missing.csv")
            print("carried on")
            """
        ),
        LAKEWORKS_OUTPUT_DIR=str(out),
    )
    assert result.returncode == 0, result.stderr
    assert (out / "files" / "report.html").read_text() == "<p>report</p>"
    assert (out / "files" / "models" / "model.pkl").read_bytes() == b"weights"
    assert "cdsw.track_file: no such file: missing.csv" in result.stderr
    assert result.stdout.strip() == "carried on"


def test_html_and_markdown_print_their_text_in_a_log(run_script: Run) -> None:
    result = run_script(
        code(
            """
            import cdsw
            cdsw.html("<b>done</b>")
            cdsw.markdown("**done**")
            cdsw.display({"rows": 3})
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["<b>done</b>", "**done**", "{'rows': 3}"]


def test_display_works_without_ipython_running(run_python: Run) -> None:
    result = run_python("import cdsw\ncdsw.html('<i>x</i>')\ncdsw.display('plain', 3)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["<i>x</i>", "plain", "3"]


def test_get_auth_uses_the_workload_key(run_python: Run) -> None:
    code_ = "import cml.utils_v1 as u\nprint(u.get_auth())\n"
    assert run_python(code_, CDSW_APIV2_KEY="k123").stdout.strip() == (
        "{'Authorization': 'Bearer k123'}"
    )
    assert run_python(code_).stdout.strip() == "{}"

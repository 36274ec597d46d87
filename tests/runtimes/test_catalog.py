"""The runtime catalog: discovery, API rows, CML identifier mapping and filters (§1.6, §6.4)."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from lakeworks.errors import InvalidInput, NotFound
from lakeworks.runtimes import catalog
from lakeworks.runtimes.catalog import Catalog, Interpreter, candidate_paths, discover_interpreters

CLOUDERA = "docker.repository.cloudera.com/cloudera/cdsw"


def interpreters(*versions: str) -> list[Interpreter]:
    found = []
    for version in versions:
        major, minor, micro = (int(part) for part in version.split("."))
        found.append(
            Interpreter(Path(f"/opt/python{major}.{minor}/bin/python3"), (major, minor, micro))
        )
    return found


@pytest.fixture
def host() -> Catalog:
    # Lakeworks "runs on" a Python this host lacks, so the default is the newest of CML's range
    # whatever interpreter runs the tests.
    return Catalog(interpreters("3.9.18", "3.11.7", "3.12.1", "3.13.0"), running_python=(3, 10))


@pytest.fixture
def warnings_seen() -> list[str]:
    return []


# Rows ----------------------------------------------------------------------------------------


def test_every_python_is_listed_under_every_editor_in_every_edition(host: Catalog) -> None:
    rows = [runtime.api_fields() for runtime in host.runtimes]
    assert len(rows) == 4 * 3 * 2
    assert {(row["kernel"], row["editor"], row["edition"]) for row in rows} == {
        (f"Python {python}", editor, edition)
        for python in ("3.9", "3.11", "3.12", "3.13")
        for editor in ("Workbench", "PBJ Workbench", "JupyterLab")
        for edition in ("Standard", "Lean")
    }
    for row in rows:
        assert row["status"] == "ENABLED"
        Version(row["full_version"])  # parses, as cmlapi users expect
        assert set(row) == {
            "image_identifier",
            "editor",
            "kernel",
            "edition",
            "description",
            "full_version",
            "status",
            "register_user_id",
        }
    identifiers = [row["image_identifier"] for row in rows]
    assert len(set(identifiers)) == len(identifiers)
    assert "ml-runtime-pbj-workbench-python3.11-standard:" in identifiers[7]
    assert "ml-runtime-pbj-workbench-python3.11-lean:" in identifiers[10]
    lean = [row for row in rows if row["edition"] == "Lean"]
    assert all("MLflow 2 client only" in row["description"] for row in lean)


def test_a_cml_style_filter_finds_rows_with_exact_editor_matching(host: Catalog) -> None:
    found = host.search({"kernel": "Python 3.9", "editor": "Workbench", "edition": "Standard"})
    assert [(r.kernel, r.editor) for r in found] == [("Python 3.9", "Workbench")]
    pbj = host.search({"editor": "PBJ Workbench"})
    assert {r.editor for r in pbj} == {"PBJ Workbench"} and len(pbj) == 8
    lean = host.search({"kernel": "Python 3.11", "editor": "Workbench", "edition": "Lean"})
    assert [(r.kernel, r.edition, r.key) for r in lean] == [("Python 3.11", "Lean", "3.11-lean")]
    assert host.search({"editor": "workbench"}) == []
    assert host.search({"kernel": "Python 3.1"}) == []


def test_description_filters_by_case_insensitive_substring(host: Catalog) -> None:
    assert len(host.search({"description": "JUPYTERLAB EDITOR"})) == 8
    assert len(host.search({"description": "python 3.12.1"})) == 6


def test_an_unknown_filter_key_is_a_clear_error(host: Catalog) -> None:
    with pytest.raises(InvalidInput, match="kernal"):
        host.search({"kernal": "Python 3.9"})


def test_image_identifier_filter_matches_one_row(host: Catalog) -> None:
    row = host.runtimes[5]
    assert host.search({"image_identifier": row.image_identifier}) == [row]


# Resolution ----------------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", [None, "", "   "])
def test_no_identifier_means_the_default_runtime(host: Catalog, identifier: str | None) -> None:
    runtime = host.resolve(identifier)
    assert (runtime.python_version, runtime.editor, runtime.edition) == (
        host.default().python_version,
        "Workbench",
        "Standard",
    )


def test_the_default_is_the_python_lakeworks_runs_on_when_installed() -> None:
    """The runtime a fresh install builds first (``scripts/test`` too) is the default one."""
    found = interpreters("3.9.18", "3.11.7", "3.12.1", "3.13.0")
    assert Catalog(found, running_python=(3, 11)).default().python_version == "3.11"
    # Not installed as a runtime: the newest of CML's 3.9-3.12, not 3.13.
    assert Catalog(found, running_python=(3, 10)).default().python_version == "3.12"


def test_the_default_python_can_be_chosen() -> None:
    assert (
        Catalog(interpreters("3.10.1", "3.11.2"), default_python="3.10").default().python_version
        == "3.10"
    )
    assert Catalog(interpreters("3.13.0")).default().python_version == "3.13"


def test_lakeworks_identifiers_resolve_to_their_own_row(host: Catalog) -> None:
    for runtime in host.runtimes:
        assert host.resolve(runtime.image_identifier) == runtime


@pytest.mark.parametrize(
    ("identifier", "python", "editor"),
    [
        (f"{CLOUDERA}/ml-runtime-workbench-python3.9-standard:2022.11.1-b2", "3.9", "Workbench"),
        (
            f"{CLOUDERA}/ml-runtime-pbj-workbench-python3.11-standard:2024.02.1-b4",
            "3.11",
            "PBJ Workbench",
        ),
        (
            f"{CLOUDERA}/ml-runtime-jupyterlab-python3.12-standard:2025.01.1-b1",
            "3.12",
            "JupyterLab",
        ),
        ("ml-runtime-workbench-python3.11-standard", "3.11", "Workbench"),
    ],
)
def test_cloudera_identifiers_map_without_warnings(
    host: Catalog, warnings_seen: list[str], identifier: str, python: str, editor: str
) -> None:
    runtime = host.resolve(identifier, warn=warnings_seen.append)
    assert (runtime.python_version, runtime.editor, runtime.edition) == (
        python,
        editor,
        "Standard",
    )
    assert warnings_seen == []


def test_an_identifier_naming_the_lean_edition_gets_it(
    host: Catalog, warnings_seen: list[str]
) -> None:
    runtime = host.resolve(
        "lakeworks.local/runtimes/ml-runtime-jupyterlab-python3.11-lean:2020.01.1-b1",
        warn=warnings_seen.append,
    )
    assert (runtime.python_version, runtime.editor, runtime.edition, runtime.key) == (
        "3.11",
        "JupyterLab",
        "Lean",
        "3.11-lean",
    )
    assert warnings_seen == []
    amp = host.resolve_kernel("Python 3.9", edition="lean", warn=warnings_seen.append)
    assert (amp.key, amp.editor) == ("3.9-lean", "Workbench")
    assert warnings_seen == []


@pytest.mark.parametrize(
    ("identifier", "python", "warning"),
    [
        # Not installed here: the nearest Python, the older one on a tie.
        (
            f"{CLOUDERA}/ml-runtime-workbench-python3.10-standard:2023.08.2-b8",
            "3.9",
            "Python 3.10 is not installed",
        ),
        (
            f"{CLOUDERA}/ml-runtime-workbench-python3.7-standard:2021.12.1-b17",
            "3.9",
            "Python 3.7 is not installed",
        ),
        # Other editions fall back to Standard.
        (
            f"{CLOUDERA}/ml-runtime-jupyterlab-python3.11-cuda:2023.05.1-b4",
            "3.11",
            "edition 'cuda'",
        ),
        # Editors Lakeworks does not have fall back to Workbench.
        (
            f"{CLOUDERA}/ml-runtime-rstudio-python3.11-standard:2023.05.1-b4",
            "3.11",
            "editor 'rstudio'",
        ),
        # No Python in it at all: the default.
        (f"{CLOUDERA}/ml-runtime-workbench-r4.1-standard:2022.04.1-b6", "3.12", "Unknown runtime"),
        ("something-else", "3.12", "Unknown runtime"),
        # A Python named loosely.
        ("my-registry/python3.11-custom:1", "3.11", "Unknown runtime"),
    ],
)
def test_unknown_identifiers_fall_back_with_a_warning(
    host: Catalog, warnings_seen: list[str], identifier: str, python: str, warning: str
) -> None:
    runtime = host.resolve(identifier, warn=warnings_seen.append)
    assert runtime.python_version == python and runtime.edition == "Standard"
    assert any(warning in seen for seen in warnings_seen), warnings_seen


def test_warnings_go_to_the_log_by_default(host: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    host.resolve(f"{CLOUDERA}/ml-runtime-workbench-python3.10-standard:2023.08.2-b8")
    assert "Python 3.10 is not installed" in caplog.text


def test_kernels_resolve_like_amp_runtime_entries(host: Catalog, warnings_seen: list[str]) -> None:
    legacy = host.resolve_kernel("python3", warn=warnings_seen.append)
    assert (legacy.python_version, legacy.editor) == ("3.12", "Workbench")
    amp = host.resolve_kernel(
        "Python 3.11", editor="JupyterLab", edition="Standard", warn=warnings_seen.append
    )
    assert (amp.python_version, amp.editor) == ("3.11", "JupyterLab")
    assert warnings_seen == []
    odd = host.resolve_kernel(
        "R 4.1", editor="RStudio", edition="Nvidia GPU", warn=warnings_seen.append
    )
    assert (odd.python_version, odd.editor) == ("3.12", "Workbench")
    assert len(warnings_seen) == 3


def test_a_host_without_python_says_what_to_do() -> None:
    empty = Catalog([])
    assert empty.runtimes == []
    assert empty.search({"editor": "Workbench"}) == []
    with pytest.raises(NotFound, match="uv python install"):
        empty.resolve(None)
    with pytest.raises(NotFound, match="Python 3.11 is not installed"):
        empty.interpreter("3.11")


# Module-level catalog --------------------------------------------------------------------------


@pytest.fixture
def installed_catalog(host: Catalog) -> Iterator[Catalog]:
    catalog.use_catalog(host)
    yield host
    catalog.use_catalog(None)


def test_module_functions_use_the_process_catalog(installed_catalog: Catalog) -> None:
    rows = catalog.list_runtimes({"editor": "JupyterLab", "kernel": "Python 3.11"})
    assert [(row["kernel"], row["edition"]) for row in rows] == [
        ("Python 3.11", "Standard"),
        ("Python 3.11", "Lean"),
    ]
    assert catalog.resolve(rows[0]["image_identifier"]).editor == "JupyterLab"
    assert catalog.resolve(None).python_version == "3.12"


# Discovery -----------------------------------------------------------------------------------


def fake_python(
    path: Path, version: str, *, implementation: str = "cpython", free_threaded: bool = False
) -> Path:
    """An executable that answers the catalog's probe as a Python of ``version`` would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    answer = json.dumps(
        {
            "version": [int(part) for part in version.split(".")],
            "implementation": implementation,
            "executable": str(path),
            "free_threaded": free_threaded,
        }
    )
    # The probe's answer goes to the file it names (argv: -I -c CODE ANSWER); what an
    # interpreter prints at start-up (a sitecustomize, a warning) must not matter.
    path.write_text(
        f"#!/bin/sh\necho 'Warning: noise from sitecustomize'\necho '{answer}' > \"$4\"\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_discovery_keeps_the_newest_patch_of_each_version_from_3_9(tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    fake_python(pyenv / "versions" / "3.12.1" / "bin" / "python3.12", "3.12.1")
    fake_python(pyenv / "versions" / "3.12.4" / "bin" / "python3.12", "3.12.4")
    fake_python(pyenv / "versions" / "3.8.18" / "bin" / "python3.8", "3.8.18")
    fake_python(tmp_path / "pypy" / "python3.9", "3.9.18", implementation="pypy")
    fake_python(pyenv / "versions" / "3.13.0t" / "bin" / "python3.13", "3.13.0", free_threaded=True)
    shims = tmp_path / "shims"
    broken = shims / "python3.11"  # a pyenv shim for a version that is not installed
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.11: command not found' >&2\nexit 127\n")
    broken.chmod(0o755)
    fake_python(tmp_path / "bin" / "python3.10", "3.10.4")

    candidates = candidate_paths(
        uv=None, pyenv_root=pyenv, search_path=f"{shims}:{tmp_path / 'bin'}:{tmp_path / 'pypy'}"
    )
    found = discover_interpreters(candidates)
    assert [(i.python, i.full_version) for i in found] == [("3.10", "3.10.4"), ("3.12", "3.12.4")]
    assert found[1].path == pyenv / "versions" / "3.12.4" / "bin" / "python3.12"


def test_discovery_reads_uv_managed_pythons(tmp_path: Path) -> None:
    managed = fake_python(
        tmp_path / "uv-pythons" / "cpython-3.11.9" / "bin" / "python3.11", "3.11.9"
    )
    threaded = fake_python(
        tmp_path / "uv-pythons" / "cpython-3.13.1t" / "bin" / "python3.13t", "3.13.1"
    )
    listing = [
        {"path": str(managed), "implementation": "cpython", "variant": "default"},
        {"path": str(threaded), "implementation": "cpython", "variant": "freethreaded"},
        {"path": None, "implementation": "cpython"},
    ]
    uv = tmp_path / "uv"
    uv.write_text(f"#!/bin/sh\necho '{json.dumps(listing)}'\n")
    uv.chmod(0o755)
    assert candidate_paths(uv=str(uv), pyenv_root=None, search_path=None) == [managed]


def test_the_real_test_interpreter_is_discovered() -> None:
    base = Path(getattr(sys, "_base_executable", sys.executable))
    found = discover_interpreters([base])
    assert [i.version for i in found] == [tuple(sys.version_info[:3])]

"""Building runtimes, and packages a project installs into itself (DESIGN §5, compat §1.3)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakeworks.runtimes.builder import (
    MARKER,
    OVERRIDABLE,
    RuntimeBuildError,
    base_prefix,
    build_log_path,
    ensure_runtime,
    is_built,
    last_failure,
    runtime_name,
    runtime_path,
    runtime_python,
    workload_env,
)
from lakeworks.runtimes.catalog import Interpreter
from lakeworks.workload import command_for, site_dir
from runtimes.shared import current_interpreter, make_wheel, project_env, run_in_project

# The environment ----------------------------------------------------------------------------


def test_workload_env_puts_the_project_first_for_packages_and_lakeworks_first_for_imports() -> None:
    env = workload_env(
        Path("/rt/python3.11-abc"),
        "/home/cdsw",
        project_pythonpath="/home/cdsw/src::/opt/extra",
        system_path="/usr/bin:/bin",
    )
    assert env == {
        "PATH": "/home/cdsw/.local/bin:/rt/python3.11-abc/bin:/usr/bin:/bin",
        "PYTHONPATH": f"{site_dir()}:/home/cdsw/src:/opt/extra:/home/cdsw",
        "PYTHONUSERBASE": "/home/cdsw/.local",
        "PIP_USER": "1",
        "PYTHONUNBUFFERED": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    assert set(env) >= OVERRIDABLE


def test_the_runtime_name_changes_with_the_lock_and_the_interpreter(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("pandas==2.3.3\n")
    python311 = Interpreter(Path("/opt/a/bin/python3.11"), (3, 11, 7))
    first = runtime_name(python311, lock)
    assert first.startswith("python3.11-")
    assert runtime_name(python311, lock) == first
    assert runtime_name(Interpreter(Path("/opt/a/bin/python3.11"), (3, 11, 9)), lock) != first
    assert runtime_name(Interpreter(Path("/opt/b/bin/python3.11"), (3, 11, 7)), lock) != first
    lock.write_text("pandas==2.3.2\n")
    assert runtime_name(python311, lock) != first


# Small builds (no package index needed) ----------------------------------------------------------


@pytest.fixture
def tiny_lock(tmp_path: Path) -> Path:
    """A requirements file with one local wheel: builds in a second, offline."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = make_wheel(wheels, "lwbase", "1.0", {"lwbase/__init__.py": "NAME = 'base'\n"})
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"lwbase @ {wheel.as_uri()}\n")
    return lock


def _is_record(path: Path) -> bool:
    """A build's lock, log or failure record (kept beside the runtimes, hidden)."""
    return path.name.startswith(".") and path.suffix in (".lock", ".log", ".failed")


def build_tiny(runtimes: Path, lock: Path) -> Path:
    interpreter = current_interpreter()
    return ensure_runtime(
        interpreter.python,
        runtimes,
        interpreter=interpreter,
        requirements=lock,
        imports=["lwbase"],
    )


def test_a_build_lands_complete_and_is_reused(tmp_path: Path, tiny_lock: Path) -> None:
    runtimes = tmp_path / "runtimes"
    runtimes.mkdir()
    interpreter = current_interpreter()
    leftover = runtimes / f".{runtime_name(interpreter, tiny_lock)}.tmp-424242"
    (leftover / "bin").mkdir(parents=True)  # from a build that died

    built = build_tiny(runtimes, tiny_lock)
    assert built.parent == runtimes
    assert built.name == runtime_name(interpreter, tiny_lock)
    assert not leftover.exists()
    assert [p.name for p in runtimes.iterdir() if not _is_record(p)] == [built.name]
    # The build's output is kept beside it, for the admin page and `lakeworks runtimes`.
    build_log = build_log_path(built).read_text()
    assert "lwbase" in build_log and build_log.endswith("The runtime is ready.\n")
    marker = json.loads((built / MARKER).read_text())
    assert marker["python"] == interpreter.full_version
    assert base_prefix(built) == sys.base_prefix
    config = (built / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in config
    # Shared by every project: nobody may write to it (a sandbox also mounts it read-only).
    assert not [
        path
        for path in [built, *built.rglob("*")]
        if not path.is_symlink() and path.stat().st_mode & 0o222
    ]
    # The host interpreter's own packages stay out of the runtime.
    probe = subprocess.run(
        [str(runtime_python(built)), "-c", "import sys, lwbase; print(sys.path)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not [p for p in eval(probe.stdout) if p.startswith(sys.base_prefix) and "-packages" in p]

    before = (built / MARKER).stat().st_mtime_ns
    assert build_tiny(runtimes, tiny_lock) == built
    assert (built / MARKER).stat().st_mtime_ns == before


def test_concurrent_builds_build_once(tmp_path: Path, tiny_lock: Path) -> None:
    runtimes = tmp_path / "runtimes"
    program = textwrap.dedent(
        f"""
        from pathlib import Path
        from lakeworks.runtimes.builder import ensure_runtime
        from runtimes.shared import current_interpreter
        interpreter = current_interpreter()
        logs = []
        path = ensure_runtime(
            interpreter.python, Path({str(runtimes)!r}), interpreter=interpreter,
            requirements=Path({str(tiny_lock)!r}), imports=["lwbase"], log=logs.append,
        )
        print(path, "built" if logs else "reused")
        """
    )
    tests_dir = Path(__file__).resolve().parent.parent
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", program],
            cwd=tests_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=100) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], results
    outcomes = sorted(stdout.split()[1] for stdout, _ in results)
    assert outcomes == ["built", "reused", "reused"]
    assert len({stdout.split()[0] for stdout, _ in results}) == 1


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    runtimes = tmp_path / "runtimes"
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"missing @ {(tmp_path / 'missing-1.0-py3-none-any.whl').as_uri()}\n")
    with pytest.raises(
        RuntimeBuildError, match="Installing the runtime's packages failed"
    ) as raised:
        build_tiny(runtimes, lock)
    assert "missing" in raised.value.message  # the tool's own words come along
    assert [p.name for p in runtimes.iterdir() if not _is_record(p)] == []
    # The failure is recorded (reason and time), and the log ends with it.
    target = runtime_path(current_interpreter(), runtimes, lock)
    failure = last_failure(target)
    assert failure is not None and "missing" in failure[0]
    assert "The build failed" in build_log_path(target).read_text()


def test_a_runtime_that_cannot_import_its_packages_is_refused(
    tmp_path: Path, tiny_lock: Path
) -> None:
    interpreter = current_interpreter()
    with pytest.raises(RuntimeBuildError, match="Checking the new runtime"):
        ensure_runtime(
            interpreter.python,
            tmp_path / "runtimes",
            interpreter=interpreter,
            requirements=tiny_lock,
            imports=["not_installed_anywhere"],
        )
    assert [p for p in (tmp_path / "runtimes").iterdir() if not _is_record(p)] == []


def test_packages_that_print_at_import_do_not_confuse_the_check(tmp_path: Path) -> None:
    """A package printing warnings on stdout and stderr at import (as google-auth does on an
    end-of-life Python) once became the recorded host prefix, and every workload failed."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    noisy = make_wheel(
        wheels,
        "lwnoisy",
        "1.0",
        {
            "lwnoisy/__init__.py": (
                "import sys, warnings\n"
                "print('/not/a/prefix: hello from stdout')\n"
                "warnings.warn('You are using a Python version past its end of life', "
                "FutureWarning)\n"
                "print('more noise', file=sys.stderr)\n"
            )
        },
    )
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"lwnoisy @ {noisy.as_uri()}\n")
    interpreter = current_interpreter()
    built = ensure_runtime(
        interpreter.python,
        tmp_path / "runtimes",
        interpreter=interpreter,
        requirements=lock,
        imports=["lwnoisy"],
    )
    assert base_prefix(built) == sys.base_prefix
    assert is_built(built)
    # The noise is kept where people look for it: the build log.
    build_log = build_log_path(built).read_text()
    assert "hello from stdout" in build_log and "end of life" in build_log


def test_a_runtime_whose_recorded_prefix_is_wrong_is_built_again(
    tmp_path: Path, tiny_lock: Path
) -> None:
    runtimes = tmp_path / "runtimes"
    built = build_tiny(runtimes, tiny_lock)
    marker = built / MARKER
    record = json.loads(marker.read_text())
    record["base_prefix"] = "/some/warning: text that is no directory"
    marker.chmod(0o644)
    marker.write_text(json.dumps(record))
    assert not is_built(built)
    rebuilt = build_tiny(runtimes, tiny_lock)
    assert rebuilt == built and base_prefix(rebuilt) == sys.base_prefix


def test_the_interpreter_must_have_the_version_asked_for(tmp_path: Path) -> None:
    with pytest.raises(RuntimeBuildError, match="not 3.2"):
        ensure_runtime("3.2", tmp_path, interpreter=current_interpreter())


# The real runtime -------------------------------------------------------------------------------


def pip_script(wheel: Path) -> str:
    return f"!pip install --no-index {wheel}\nimport lwtiny\nprint(lwtiny.GREETING)\n"


def test_the_runtime_has_the_base_packages_and_working_entry_points(runtime: Path) -> None:
    python = str(runtime_python(runtime))
    versions = subprocess.run(
        [
            python,
            "-c",
            "import IPython, ipykernel, mlflow, pandas, sklearn, requests, packaging, nbclient;"
            "print(mlflow.__version__.split('.')[0], pandas.__version__.split('.')[0])",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split() == ["2", "2"]  # MLflow 2 (compat §9), pandas 2
    # The runtime was renamed into place after its build: its scripts still find Python.
    for tool in ("pip", "ipython"):
        result = subprocess.run(
            [str(runtime / "bin" / tool), "--version"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr


def test_pip_install_persists_in_the_project_and_nowhere_else(
    runtime: Path, tmp_path: Path
) -> None:
    project_a = tmp_path / "a"
    project_b = tmp_path / "b"
    project_a.mkdir()
    project_b.mkdir()
    wheel = make_wheel(tmp_path, "lwtiny", "0.1", {"lwtiny/__init__.py": "GREETING = 'hello'\n"})
    (project_a / "setup_task.py").write_text(pip_script(wheel))

    python = str(runtime_python(runtime))
    installed = run_in_project(
        runtime, project_a, command_for("setup_task.py", "", python), timeout=120
    )
    # Importable in the very run that installed it, although .local did not exist before.
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines()[-1] == "hello"
    assert list((project_a / ".local").glob("lib/python3.*/site-packages/lwtiny/__init__.py"))

    where = "import lwtiny; print(lwtiny.__file__)"
    later = run_in_project(runtime, project_a, [python, "-c", where])
    assert later.returncode == 0, later.stderr
    assert later.stdout.strip().startswith(str(project_a / ".local"))

    other = run_in_project(runtime, project_b, [python, "-c", where])
    assert other.returncode == 1
    assert "No module named 'lwtiny'" in other.stderr
    assert not list(runtime.glob("lib/python3.*/site-packages/lwtiny"))


def test_a_project_can_upgrade_a_runtime_package_for_itself(runtime: Path, tmp_path: Path) -> None:
    project_a = tmp_path / "a"
    project_b = tmp_path / "b"
    project_a.mkdir()
    project_b.mkdir()
    newer = make_wheel(tmp_path, "wheel", "99.0", {"wheel/__init__.py": "__version__ = '99.0'\n"})
    python = str(runtime_python(runtime))
    pip = run_in_project(
        runtime, project_a, [python, "-m", "pip", "install", "--no-index", str(newer)], timeout=120
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    version = "import wheel; print(wheel.__version__)"
    assert run_in_project(runtime, project_a, [python, "-c", version]).stdout.strip() == "99.0"
    shared = run_in_project(runtime, project_b, [python, "-c", version]).stdout.strip()
    assert shared not in ("", "99.0")


def test_editable_installs_of_the_project_work(runtime: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src" / "mypkg").mkdir(parents=True)
    (project / "src" / "mypkg" / "__init__.py").write_text("WHERE = 'editable'\n")
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "mypkg"
            version = "0.1"
            [tool.setuptools.packages.find]
            where = ["src"]
            """
        )
    )
    python = str(runtime_python(runtime))
    # --no-build-isolation: the runtime's setuptools, no index needed.
    pip = run_in_project(
        runtime,
        project,
        [python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "-e", "."],
        timeout=120,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = project_env(runtime, project)
    result = subprocess.run(
        [python, "-c", "import mypkg; print(mypkg.WHERE, mypkg.__file__)"],
        cwd=tmp_path,  # not the project root: found through the editable install
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["editable", str(project / "src" / "mypkg" / "__init__.py")]

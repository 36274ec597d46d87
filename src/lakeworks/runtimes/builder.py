"""Build runtimes (shared, read-only Python environments) with uv, and the environment that
workloads get to use one (DESIGN §5).

A runtime is a virtual environment of one host interpreter with the locked packages of an
edition (``editions``: ``base-requirements.txt`` for Standard), built once into
``<runtimes_dir>/python<X.Y>-<hash>`` (``python<X.Y>-<edition>-<hash>`` for others); the hash
covers the lock, the interpreter and the build recipe, so a change builds a new runtime beside
the old one. Builds happen in a temporary directory that is renamed into place when complete,
under a lock file, so concurrent servers never see or make a half-built runtime. A built runtime
is read-only (``remove_runtime`` deletes one).

``pip install`` in a workload lands in the project, never in the runtime: workloads get
``PYTHONUSERBASE=<project>/.local`` and ``PIP_USER=1`` (CML's ``~/.local``). For that to work
in a virtual environment:

- its ``pyvenv.cfg`` enables system site-packages (Python and pip ignore user site-packages in
  any other venv);
- its packages live in ``lib/pythonX.Y/base-packages``, not in ``site-packages`` (pip refuses a
  user install that the venv's own ``site-packages`` would shadow);
- a start-up hook (a .pth file in ``site-packages``) adds ``base-packages``, puts the user site
  before it (so a project can upgrade a runtime package for itself, as on CML) and keeps the
  host interpreter's own site-packages out.

Example::

    runtime = ensure_runtime("3.11", settings.resolved_runtimes_dir)
    env = workload_env(runtime, project_dir)
    subprocess.run(command_for("train.py", "", str(runtime_python(runtime))), env=env, ...)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lakeworks.errors import LakeworksError
from lakeworks.runtimes import editions
from lakeworks.runtimes.catalog import Interpreter, host_catalog
from lakeworks.workload import site_dir

REQUIREMENTS = editions.STANDARD.requirements
MARKER = "lakeworks-runtime.json"
# Bump when the recipe below changes what a built runtime contains.
BUILD_FORMAT = 3
DEFAULT_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Convenience variables of ``workload_env`` that a project's own env may override (compat §1.7);
# the others make the runtime work and are not the project's to change.
OVERRIDABLE = frozenset({"PIP_USER", "PIP_DISABLE_PIP_VERSION_CHECK", "PYTHONUNBUFFERED"})

# The runtime's packages live in ``lib/pythonX.Y/base-packages``; its ``site-packages`` only
# holds this module and a .pth line that imports it. ``site`` processes a virtual environment's
# own site-packages first (``site.venv``), so this runs before the user site and the host
# interpreter's directories are added, and it changes how they are added.
_SITE_HOOK = '''\
"""Lakeworks runtime: which directories ``site`` puts on sys.path, and in which order.

- The runtime's packages (``base-packages``) are added here.
- The user site (PYTHONUSERBASE, where ``pip install`` puts a project's packages) goes before
  them, so that a project can upgrade a runtime package for itself.
- The host interpreter's own site-packages are left out. The runtime enables system
  site-packages only because Python and pip honour user site-packages in no other virtual
  environment.
"""
import os
import site
import sys


def _install():
    if sys.prefix == sys.base_prefix:
        return
    own = os.path.realpath(sys.prefix) + os.sep
    host = tuple({os.path.realpath(p) + os.sep for p in (sys.base_prefix, sys.base_exec_prefix)})
    user = os.path.realpath(site.getusersitepackages()) + os.sep
    here = os.path.dirname(os.path.realpath(__file__))
    packages = os.path.join(os.path.dirname(here), "base-packages")
    original = site.addsitedir

    def in_runtime(entry):
        return bool(entry) and (os.path.realpath(entry) + os.sep).startswith(own)

    def addsitedir(sitedir, known_paths=None):
        real = os.path.realpath(sitedir) + os.sep
        if real == user:
            before = list(sys.path)
            result = original(sitedir, known_paths)
            if sys.path[: len(before)] == before:
                added = sys.path[len(before):]
                del sys.path[len(before):]
                position = next(
                    (i for i, entry in enumerate(sys.path) if in_runtime(entry)), len(sys.path)
                )
                sys.path[position:position] = added
            return result
        if real.startswith(host) and not real.startswith(own):
            return known_paths
        return original(sitedir, known_paths)

    site.addsitedir = addsitedir
    original(packages)


_install()
'''

# What a Standard runtime must import; checked before a build is accepted.
BASE_IMPORTS = editions.STANDARD.imports
# Run by the new runtime: imports, user site on, host packages off. The answer (the host
# interpreter's prefix) goes to the file named by argv[2], a channel only this check writes:
# packages may print anything at import (deprecation and end-of-life warnings do), and that
# output belongs in the build log, not in the answer.
_CHECK = (
    "import importlib, json, site, sys; "
    "[importlib.import_module(name) for name in json.loads(sys.argv[1])]; "
    "assert site.ENABLE_USER_SITE, 'user site-packages are disabled'; "
    "host = [p for p in sys.path if p.startswith(sys.base_prefix) and 'site-packages' in p]; "
    "assert not host, f'host site-packages on sys.path: {host}'; "
    "import pathlib; "
    "pathlib.Path(sys.argv[2]).write_text(json.dumps({'base_prefix': sys.base_prefix}))"
)

Log = Callable[[str], None]


class RuntimeBuildError(LakeworksError):
    """A runtime could not be built; the message has the tool's output."""

    code = "runtime_build_failed"


def runtime_python(runtime_dir: Path) -> Path:
    """The interpreter of a built runtime."""
    return runtime_dir / "bin" / "python"


def _uv() -> str:
    try:
        from uv import find_uv_bin  # the `uv` package ships the binary

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    located = shutil.which("uv")
    if located is None:
        raise RuntimeBuildError("uv is needed to build runtimes: install it (pip install uv).")
    return located


def runtime_name(
    interpreter: Interpreter, requirements: Path = REQUIREMENTS, edition: str = ""
) -> str:
    """``python<X.Y>-<hash>``, or ``python<X.Y>-<edition>-<hash>`` for an edition other than
    Standard (``edition`` is its slug): the hash covers the lock, the interpreter and the
    recipe."""
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(f"\0{interpreter.path.resolve()}\0{interpreter.full_version}".encode())
    digest.update(f"\0{BUILD_FORMAT}\0{_SITE_HOOK}".encode())
    label = f"-{edition}" if edition and edition != editions.STANDARD.slug else ""
    return f"python{interpreter.python}{label}-{digest.hexdigest()[:12]}"


def runtime_path(
    interpreter: Interpreter,
    runtimes_dir: Path,
    requirements: Path = REQUIREMENTS,
    edition: str = "",
) -> Path:
    """Where the runtime for ``interpreter`` is (or will be) built."""
    return runtimes_dir / runtime_name(interpreter, requirements, edition)


def is_built(runtime_dir: Path) -> bool:
    """Whether ``runtime_dir`` is a complete runtime whose host interpreter is still there.

    A marker whose ``base_prefix`` is not a directory (the host Python was removed, or an
    earlier release recorded a package's warning as the prefix) means: build again.
    """
    try:
        return Path(base_prefix(runtime_dir)).is_dir()
    except RuntimeBuildError:
        return False


def base_prefix(runtime_dir: Path) -> str:
    """The prefix of the host interpreter a runtime is built on (``sys.base_prefix`` in it).

    The runtime's ``bin/python`` links to that interpreter, so a sandbox that shows the workload
    the runtime must show it this directory too (read-only).
    """
    try:
        return str(json.loads((runtime_dir / MARKER).read_text())["base_prefix"])
    except (OSError, ValueError, KeyError) as error:
        raise RuntimeBuildError(f"{runtime_dir} is not a built runtime.") from error


def build_log_path(runtime_dir: Path) -> Path:
    """Where the output of the latest build of ``runtime_dir`` is kept (beside it, hidden)."""
    return runtime_dir.with_name(f".{runtime_dir.name}.log")


def failure_path(runtime_dir: Path) -> Path:
    """Where the latest failed build of ``runtime_dir`` left its reason (JSON)."""
    return runtime_dir.with_name(f".{runtime_dir.name}.failed")


def last_failure(runtime_dir: Path) -> tuple[str, float] | None:
    """``(reason, when as a Unix time)`` of the latest failed build, if the latest failed."""
    try:
        record = json.loads(failure_path(runtime_dir).read_text())
        return str(record["reason"]), float(record["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_building(runtime_dir: Path) -> bool:
    """Whether some process (this one or another) is building ``runtime_dir`` now."""
    lock_path = runtime_dir.with_name(f".{runtime_dir.name}.lock")
    if not lock_path.exists():
        return False
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def size_on_disk(path: Path) -> int:
    """Bytes used by the files under ``path`` (links not followed)."""
    total = 0
    for directory, _dirnames, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as handle:
        # Blocks while another process builds the same runtime; the kernel drops the lock if
        # that process dies, so a crashed build never wedges the next one.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], what: str, log: Log | None, timeout: float, cwd: Path) -> str:
    """Run a build tool; its output (stdout and stderr) streams to ``log`` line by line, so a
    build in progress can be followed, and is returned."""
    # The tools run in this process's environment (uv's own settings, proxies, certificates),
    # less what would point Python elsewhere.
    ignored = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
            # Not the server's working directory: uv would read a project's settings there.
            cwd=cwd,
        )
    except OSError as error:
        raise RuntimeBuildError(f"{what} could not start: {error}.") from error
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    with process:
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if log is not None:
                    log(line)
            code = process.wait()
        finally:
            timer.cancel()
    output = "".join(lines)
    if time.monotonic() >= deadline and code != 0:
        raise RuntimeBuildError(f"{what} took longer than {timeout:.0f} s.")
    if code != 0:
        tail = output[-4000:].strip()
        raise RuntimeBuildError(f"{what} failed (exit {code}):\n{tail}")
    return output


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if len(found) != 1:
        raise RuntimeBuildError(f"Cannot find the site-packages of {venv}.")
    return found[0]


def _walk_without_links(root: Path) -> Iterator[Path]:
    """Every file and directory under ``root``, children before parents; links left out
    (``bin/python`` links to the host interpreter, whose mode must not change)."""
    for directory, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            path = Path(directory, name)
            if not path.is_symlink():
                yield path
    yield root


def _make_read_only(root: Path) -> None:
    # Workloads share the runtime; where no sandbox mounts it read-only, this stops a stray
    # ``pip uninstall`` from changing it for every project.
    for path in _walk_without_links(root):
        path.chmod(path.stat().st_mode & ~0o222)


def remove_runtime(path: Path) -> None:
    """Delete a runtime (or a half-built one), read-only as it is."""
    if not path.exists():
        return
    for entry in _walk_without_links(path):
        if entry.is_dir():
            entry.chmod(entry.stat().st_mode | 0o700)
    shutil.rmtree(path)


def _build(
    interpreter: Interpreter,
    target: Path,
    work: Path,
    requirements: Path,
    imports: Sequence[str],
    log: Log | None,
    timeout: float,
) -> None:
    uv = _uv()
    # --relocatable: scripts and entry points find their interpreter relative to themselves,
    # so they keep working once the directory is renamed into place.
    _run(
        [uv, "venv", "--no-project", "--relocatable", "--python", str(interpreter.path), str(work)],
        "Creating the virtual environment",
        log,
        timeout,
        work.parent,
    )
    _run(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(runtime_python(work)),
            # Copies, not links into uv's cache: the runtime is made read-only below.
            "--link-mode",
            "copy",
            "--compile-bytecode",
            "-r",
            str(requirements),
        ],
        "Installing the runtime's packages",
        log,
        timeout,
        work.parent,
    )
    # pip refuses a --user install of a package the environment's own site-packages has
    # ("would lack sys.path precedence"), so the runtime's packages move beside it; the
    # RECORD files stay right, both directories being at the same depth.
    site_packages = _site_packages(work)
    site_packages.rename(site_packages.with_name("base-packages"))
    site_packages.mkdir()
    (site_packages / "_lakeworks_runtime.py").write_text(_SITE_HOOK)
    (site_packages / "_lakeworks_runtime.pth").write_text("import _lakeworks_runtime\n")
    config = work / "pyvenv.cfg"
    lines = [
        line
        for line in config.read_text().splitlines()
        if not line.startswith("include-system-site-packages")
    ]
    config.write_text("\n".join([*lines, "include-system-site-packages = true"]) + "\n")
    # Compiled now: once the runtime is read-only, Python could not cache it.
    _run(
        [str(runtime_python(work)), "-m", "compileall", "-q", str(site_packages)],
        "Compiling the start-up hook",
        None,
        timeout,
        work.parent,
    )
    answer = work.parent / f"{work.name}.check.json"
    try:
        _run(
            [str(runtime_python(work)), "-c", _CHECK, json.dumps(list(imports)), str(answer)],
            "Checking the new runtime",
            log,
            timeout,
            work.parent,
        )
        prefix = json.loads(answer.read_text())["base_prefix"]
    except (OSError, ValueError, KeyError) as error:
        raise RuntimeBuildError(f"Checking the new runtime gave no answer: {error}") from error
    finally:
        answer.unlink(missing_ok=True)
    marker = {
        "python": interpreter.full_version,
        "base_prefix": prefix,
        "interpreter": str(interpreter.path),
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "build_format": BUILD_FORMAT,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (work / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    _make_read_only(work)
    work.rename(target)


def ensure_runtime(
    version: str,
    runtimes_dir: Path,
    *,
    interpreter: Interpreter | None = None,
    requirements: Path = REQUIREMENTS,
    imports: Sequence[str] = BASE_IMPORTS,
    log: Log | None = None,
    timeout: float = 1800.0,
    edition: str = "",
) -> Path:
    """The runtime directory for Python ``version`` (``"3.11"``), built first if missing.

    ``runtimes_dir`` is the root that holds runtimes (``Settings.resolved_runtimes_dir``).
    Without ``interpreter``, this host's interpreter for ``version`` is used
    (``catalog.host_catalog()``). Safe to call from
    several processes at once: one builds, the others wait and then use it. ``log`` receives
    the build tools' output. Raises ``NotFound`` when no interpreter has that version, and
    ``RuntimeBuildError`` when the build fails (for example, no package index is reachable).
    ``imports`` are the modules the new runtime must import before it is accepted;
    ``edition`` (a slug, ``editions``) names an edition other than Standard in the directory.

    Example::

        runtime = ensure_runtime("3.11", Path("/var/lib/lakeworks/runtimes"))
        python = runtime_python(runtime)
    """
    if interpreter is None:
        interpreter = host_catalog().interpreter(version)
    elif interpreter.python != version:
        raise RuntimeBuildError(
            f"{interpreter.path} is Python {interpreter.python}, not {version}."
        )
    runtimes_dir.mkdir(parents=True, exist_ok=True)
    target = runtime_path(interpreter, runtimes_dir, requirements, edition)
    if is_built(target):
        return target
    with _locked(runtimes_dir / f".{target.name}.lock"):
        if is_built(target):
            return target
        # Left over from builds that died: nobody else holds the lock, so nobody uses them.
        for stale in runtimes_dir.glob(f".{target.name}.tmp-*"):
            remove_runtime(stale)
        remove_runtime(target)
        work = runtimes_dir / f".{target.name}.tmp-{os.getpid()}"
        failure_path(target).unlink(missing_ok=True)
        with build_log_path(target).open("w", encoding="utf-8") as build_log:

            def record(text: str) -> None:
                build_log.write(text)
                build_log.flush()
                if log is not None:
                    log(text)

            record(f"Building the Python {interpreter.full_version} runtime {target.name}\n")
            try:
                _build(interpreter, target, work, requirements, imports, record, timeout)
            except RuntimeBuildError as error:
                record(f"\nThe build failed: {error.message}\n")
                failure_path(target).write_text(
                    json.dumps({"reason": error.message, "at": time.time()}) + "\n"
                )
                raise
            finally:
                remove_runtime(work)
            record("The runtime is ready.\n")
    return target


def workload_env(
    runtime_dir: Path,
    project_home: Path | str,
    *,
    site: Path | None = None,
    project_pythonpath: str = "",
    system_path: str = DEFAULT_SYSTEM_PATH,
) -> dict[str, str]:
    """The variables that make a workload use ``runtime_dir`` from ``project_home``.

    Paths are as the workload sees them (``/home/cdsw`` when the executor mounts the project
    there). ``project_pythonpath`` is the project's own ``PYTHONPATH`` (honoured, compat §1.3):
    it goes after the in-workload libraries, which a project cannot shadow, and before the
    project root. The project's ``.local/bin`` (console scripts of its ``pip install``s) comes
    first on ``PATH``, then the runtime's ``bin``, then ``system_path``. Variables in
    ``OVERRIDABLE`` are defaults that the project's env may replace.

    Example::

        >>> workload_env(Path("/rt"), "/home/cdsw", site=Path("/lw"))["PYTHONPATH"]
        '/lw:/home/cdsw'
    """
    home = str(project_home)
    user_base = f"{home}/.local"
    pythonpath = [str(site or site_dir())]
    pythonpath += [entry for entry in project_pythonpath.split(os.pathsep) if entry]
    pythonpath.append(home)
    return {
        "PATH": os.pathsep.join([f"{user_base}/bin", f"{runtime_dir}/bin", system_path]),
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PYTHONUSERBASE": user_base,
        "PIP_USER": "1",
        "PYTHONUNBUFFERED": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }

"""The runtime catalog: which Python interpreters this host has, and the API v2 rows for them.

CML names a runtime by an image identifier and describes it by editor, kernel and edition
(compat §1.6). Lakeworks has one runtime per Python version and edition (a shared environment,
see ``builder``; the editions are in ``editions``: ``Standard`` and ``Lean``); the editor only
changes the session front end, so each runtime is listed under every editor. Identifiers from
Cloudera (``docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-<editor>-python<X.Y>-
<edition>:<v>``) map to the row for Python X.Y and that edition (Standard when Lakeworks has
no such edition); nothing is ever pulled.

Example::

    catalog = Catalog.discover()
    runtime = catalog.resolve("docker.repository.cloudera.com/cloudera/cdsw/"
                              "ml-runtime-workbench-python3.10-standard:2023.08.2-b8")
    catalog.search({"kernel": "Python 3.10", "editor": "Workbench", "edition": "Standard"})
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeworks.errors import InvalidInput, NotFound
from lakeworks.runtimes.editions import EDITIONS, STANDARD, Edition, by_name, by_slug, runtime_key

log = logging.getLogger(__name__)

EDITORS = ("Workbench", "PBJ Workbench", "JupyterLab")
EDITOR_SLUGS = {
    "Workbench": "workbench",
    "PBJ Workbench": "pbj-workbench",
    "JupyterLab": "jupyterlab",
}
EDITION = STANDARD.name  # the default edition
# The release of Lakeworks' runtimes, in CML's ``YYYY.MM.P-bN`` form (parses with
# ``packaging.version``). Bump it when base-requirements.txt changes.
RELEASE = "2026.12.1-b1"
IMAGE_REPOSITORY = "lakeworks.local/runtimes"
MIN_PYTHON = (3, 9)
# The newest Python the runtime's lock (base-requirements.txt) is compiled and tested for;
# newer interpreters are listed as unavailable, with the reason.
MAX_PYTHON = (3, 13)
# CML's own range (compat §1.6): without a configured default and when the Python running
# Lakeworks is not installed as a runtime, the default runtime is the newest of these.
PREFERRED_PYTHONS = ((3, 9), (3, 10), (3, 11), (3, 12))

_IMAGE = re.compile(
    r"""^(?:.*/)?ml-runtime-(?P<editor>[a-z0-9-]+?)
        -python(?P<major>\d+)\.(?P<minor>\d+)
        -(?P<edition>[a-z0-9][a-z0-9.-]*?)
        (?::(?P<tag>[\w.+-]+))?$""",
    re.VERBOSE,
)
_PYTHON = re.compile(r"python\s*-?(?P<major>\d+)(?:\.(?P<minor>\d+))?", re.IGNORECASE)

# Exact-match fields and substring fields of GET /runtimes' search_filter (compat §6.4).
_EXACT_KEYS = ("image_identifier", "editor", "kernel", "edition", "full_version", "status")
_SUBSTRING_KEYS = ("description",)

# The answer goes to the file named by argv[1], not stdout: a host interpreter's
# sitecustomize (or a warning) may print at start-up.
_PROBE = (
    "import json, pathlib, sys, sysconfig; "
    "venv = sys.prefix != sys.base_prefix; "
    "pathlib.Path(sys.argv[1]).write_text(json.dumps({"
    "'version': list(sys.version_info[:3]), "
    "'implementation': sys.implementation.name, "
    "'executable': getattr(sys, '_base_executable', sys.executable) if venv else sys.executable, "
    "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))"
)

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Interpreter:
    """An installed CPython interpreter usable as the base of a runtime."""

    path: Path
    version: tuple[int, int, int]

    @property
    def python(self) -> str:
        """``"3.11"``"""
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def full_version(self) -> str:
        return ".".join(str(part) for part in self.version)


@dataclass(frozen=True)
class Runtime:
    """One row of ``GET /api/v2/runtimes`` (compat §6.7 ``Runtime``), and what it runs on."""

    image_identifier: str
    editor: str
    kernel: str
    edition: str
    description: str
    full_version: str
    status: str
    interpreter: Interpreter = field(compare=False)
    packages: Edition = field(default=STANDARD, compare=False)  # the edition's lock

    @property
    def python_version(self) -> str:
        """``"3.11"``: the Python of this runtime (what ``builder.ensure_runtime`` takes)."""
        return self.interpreter.python

    @property
    def key(self) -> str:
        """``"3.11"`` (Standard) or ``"3.11-lean"``: what the ``RuntimeManager`` builds."""
        return runtime_key(self.interpreter.python, self.packages)

    def api_fields(self) -> dict[str, Any]:
        """The row as API v2 returns it."""
        return {
            "image_identifier": self.image_identifier,
            "editor": self.editor,
            "kernel": self.kernel,
            "edition": self.edition,
            "description": self.description,
            "full_version": self.full_version,
            "status": self.status,
            "register_user_id": 0,
        }


def unavailable_reason(interpreter: Interpreter) -> str:
    """Why no runtime can be built on ``interpreter`` ("" when one can)."""
    if interpreter.version[:2] > MAX_PYTHON:
        newest = f"{MAX_PYTHON[0]}.{MAX_PYTHON[1]}"
        return (
            f"the runtime's packages are locked and tested for Python 3.9 to {newest}; "
            f"Python {interpreter.python} is newer"
        )
    return ""


def image_identifier(
    editor: str, python: str, release: str = RELEASE, edition: Edition = STANDARD
) -> str:
    """Lakeworks' identifier, shaped like CML's so that code parsing those parses it too."""
    return (
        f"{IMAGE_REPOSITORY}/ml-runtime-{EDITOR_SLUGS[editor]}-python{python}-{edition.slug}"
        f":{release}"
    )


# Discovery ---------------------------------------------------------------------------------


def probe(path: Path, timeout: float = 15.0) -> Interpreter | None:
    """Run ``path`` to learn its version; ``None`` if it is not a usable CPython.

    A virtual environment's interpreter stands for its base interpreter.
    """
    with tempfile.TemporaryDirectory(prefix="lakeworks-probe-") as scratch:
        answer = Path(scratch) / "answer.json"
        try:
            completed = subprocess.run(
                [str(path), "-I", "-c", _PROBE, str(answer)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            if completed.returncode != 0:
                return None
            info = json.loads(answer.read_text())
            major, minor, micro = (int(part) for part in info["version"])
        except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
            return None
    if info.get("implementation") != "cpython" or info.get("free_threaded"):
        return None
    return Interpreter(path=Path(info.get("executable") or path), version=(major, minor, micro))


def _uv_pythons(uv: str) -> list[Path]:
    try:
        completed = subprocess.run(
            [uv, "python", "list", "--only-installed", "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        entries = json.loads(completed.stdout) if completed.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    paths = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        if entry.get("implementation", "cpython") != "cpython":
            continue
        if entry.get("variant", "default") != "default":
            continue
        paths.append(Path(entry["path"]))
    return paths


def _pyenv_pythons(pyenv_root: Path) -> list[Path]:
    versions = pyenv_root / "versions"
    if not versions.is_dir():
        return []
    found = []
    for version_dir in sorted(versions.iterdir()):
        match = re.match(r"^(\d+)\.(\d+)", version_dir.name)
        if match:
            candidate = version_dir / "bin" / f"python{match[1]}.{match[2]}"
            if candidate.exists():
                found.append(candidate)
    return found


def _path_pythons(search_path: str) -> list[Path]:
    found = []
    for minor in range(MIN_PYTHON[1], 20):
        located = shutil.which(f"python3.{minor}", path=search_path)
        if located:
            found.append(Path(located))
    return found


def candidate_paths(
    *, uv: str | None, pyenv_root: Path | None, search_path: str | None
) -> list[Path]:
    """Interpreters worth probing: uv's installed Pythons, pyenv's, ``python3.N`` on PATH."""
    candidates: list[Path] = []
    if uv:
        candidates += _uv_pythons(uv)
    if pyenv_root is not None:
        candidates += _pyenv_pythons(pyenv_root)
    if search_path:
        candidates += _path_pythons(search_path)
    unique: dict[str, Path] = {}
    for path in candidates:
        unique.setdefault(str(path), path)
    return list(unique.values())


def discover_interpreters(candidates: Iterable[Path]) -> list[Interpreter]:
    """Probe ``candidates``; keep the newest patch release of each Python version ≥ 3.9."""
    best: dict[tuple[int, int], Interpreter] = {}
    for path in candidates:
        interpreter = probe(path)
        if interpreter is None or interpreter.version[:2] < MIN_PYTHON:
            continue
        key = (interpreter.version[0], interpreter.version[1])
        current = best.get(key)
        if current is None or interpreter.version > current.version:
            best[key] = interpreter
    return [best[key] for key in sorted(best)]


def host_candidates() -> list[Path]:
    """The candidates of this host, from ``uv``, ``$PYENV_ROOT`` (or ``~/.pyenv``) and PATH."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    return candidate_paths(
        uv=shutil.which("uv"), pyenv_root=pyenv_root, search_path=os.environ.get("PATH")
    )


# The catalog -------------------------------------------------------------------------------


def _parse_version(text: str) -> tuple[int, int] | None:
    match = _PYTHON.search(text)
    if not match or not match["minor"]:
        return None
    return int(match["major"]), int(match["minor"])


def _logged(message: str) -> None:
    log.warning("%s", message)


class Catalog:
    """The runtimes of this installation: every interpreter under every editor.

    ``default_python`` (``"3.11"``) picks the default runtime's Python; without it, the Python
    running Lakeworks (``running_python``) when installed, else the newest of 3.9-3.12 that
    is installed (else the newest installed); see ``_default_version``.
    """

    def __init__(
        self,
        interpreters: Sequence[Interpreter],
        *,
        default_python: str | None = None,
        release: str = RELEASE,
        running_python: tuple[int, int] = (sys.version_info[0], sys.version_info[1]),
    ) -> None:
        self.interpreters = sorted(interpreters, key=lambda i: i.version)
        self._running = running_python
        self.release = release
        self.runtimes = [
            self._row(editor, interpreter, edition)
            for interpreter in self.interpreters
            for edition in EDITIONS
            for editor in EDITORS
        ]
        self._default_python = default_python

    @classmethod
    def discover(cls, *, default_python: str | None = None) -> Catalog:
        """The catalog of this host's interpreters (see ``host_candidates``)."""
        return cls(discover_interpreters(host_candidates()), default_python=default_python)

    def _row(self, editor: str, interpreter: Interpreter, edition: Edition) -> Runtime:
        python = interpreter.python
        description = f"Python {interpreter.full_version} with {edition.summary} ({editor} editor)"
        why_not = unavailable_reason(interpreter)
        return Runtime(
            image_identifier=image_identifier(editor, python, self.release, edition),
            editor=editor,
            kernel=f"Python {python}",
            edition=edition.name,
            description=f"Unavailable: {why_not}" if why_not else description,
            full_version=self.release,
            status="DISABLED" if why_not else "ENABLED",
            interpreter=interpreter,
            packages=edition,
        )

    @property
    def available(self) -> list[Interpreter]:
        """The interpreters a runtime can be built on (``unavailable_reason`` is empty)."""
        return [i for i in self.interpreters if not unavailable_reason(i)]

    # Lists -------------------------------------------------------------------------------

    def search(self, search_filter: Mapping[str, Any] | None = None) -> list[Runtime]:
        """Rows matching ``search_filter`` (all keys must match, compat §6.4).

        ``image_identifier``, ``editor``, ``kernel``, ``edition``, ``full_version`` and
        ``status`` match exactly (editor ``Workbench`` is not ``PBJ Workbench``);
        ``description`` matches a case-insensitive substring.
        """
        criteria = dict(search_filter or {})
        unknown = sorted(set(criteria) - set(_EXACT_KEYS) - set(_SUBSTRING_KEYS))
        if unknown:
            known = ", ".join((*_EXACT_KEYS, *_SUBSTRING_KEYS))
            raise InvalidInput(
                f"Runtimes cannot be filtered by {', '.join(unknown)}; filter keys: {known}."
            )
        rows = []
        for runtime in self.runtimes:
            fields = runtime.api_fields()
            if all(
                str(fields[key]) == str(value)
                if key in _EXACT_KEYS
                else str(value).lower() in str(fields[key]).lower()
                for key, value in criteria.items()
            ):
                rows.append(runtime)
        return rows

    def pythons(self) -> list[str]:
        """The Python versions runtimes can be built for (``"3.11"``), oldest first."""
        return [interpreter.python for interpreter in self.available]

    # Resolution --------------------------------------------------------------------------

    def default(self) -> Runtime:
        """The default runtime: Workbench, Standard, the default Python."""
        return self._pick("Workbench", self._default_version(), warn=_logged)

    def resolve(self, identifier: str | None, *, warn: Warn | None = None) -> Runtime:
        """The runtime for a ``runtime_identifier`` as a job, session or AMP gives it.

        - empty or ``None``: the default runtime;
        - a Lakeworks identifier: that row;
        - a Cloudera identifier (``…/ml-runtime-<editor>-python<X.Y>-<edition>:<tag>``): the
          same editor and edition on Python X.Y; the nearest Python (then the older one) when
          X.Y is not installed, and ``Standard`` for editions Lakeworks lacks, each with a
          warning;
        - anything else: the nearest Python named in it, else the default, with a warning.

        Warnings go to ``warn`` (e.g. the job's log); by default to this module's logger.
        """
        say = warn or _logged
        if not identifier or not identifier.strip():
            return self.default()
        identifier = identifier.strip()
        for runtime in self.runtimes:
            if runtime.image_identifier == identifier:
                return runtime
        match = _IMAGE.match(identifier)
        if match is None:
            version = _parse_version(identifier)
            if version is None:
                fallback = self.default()
                say(
                    f"Unknown runtime {identifier!r}: using the default runtime "
                    f"{fallback.image_identifier}."
                )
                return fallback
            say(f"Unknown runtime {identifier!r}: using a Python {version[0]}.{version[1]} one.")
            return self._pick("Workbench", version, warn=say)
        slug = match["editor"]
        editor = next((name for name, s in EDITOR_SLUGS.items() if s == slug), None)
        if editor is None:
            editor = "Workbench"
            say(f"Runtime {identifier!r}: editor {slug!r} is not available; using Workbench.")
        edition = by_slug(match["edition"])
        if edition is None:
            edition = STANDARD
            say(
                f"Runtime {identifier!r}: edition {match['edition']!r} is not available; "
                f"using {EDITION}."
            )
        version = (int(match["major"]), int(match["minor"]))
        return self._pick(editor, version, warn=say, edition=edition)

    def resolve_kernel(
        self,
        kernel: str | None,
        *,
        editor: str | None = None,
        edition: str | None = None,
        warn: Warn | None = None,
    ) -> Runtime:
        """The runtime for a kernel name: ``"Python 3.10"`` (AMP ``runtimes`` entries, with
        their ``editor`` and ``edition``) or the legacy ``"python3"`` (the default Python)."""
        say = warn or _logged
        chosen_editor = editor or "Workbench"
        if chosen_editor not in EDITORS:
            say(f"Editor {chosen_editor!r} is not available; using Workbench.")
            chosen_editor = "Workbench"
        packages = by_name(edition) if edition else STANDARD
        if packages is None:
            say(f"Edition {edition!r} is not available; using {EDITION}.")
            packages = STANDARD
        version = _parse_version(kernel or "")
        if version is None:
            if kernel and not re.fullmatch(r"(?i)python\s*3?", kernel.strip()):
                say(f"Kernel {kernel!r} is not available; using the default Python.")
            version = self._default_version()
        return self._pick(chosen_editor, version, warn=say, edition=packages)

    def interpreter(self, python: str) -> Interpreter:
        """The interpreter for ``"3.11"``; ``NotFound`` if this host has none, and
        ``InvalidInput`` if it has one that runtimes cannot be built on."""
        for interpreter in self.interpreters:
            if interpreter.python == python:
                why_not = unavailable_reason(interpreter)
                if why_not:
                    raise InvalidInput(f"Python {python} cannot be used: {why_not}")
                return interpreter
        raise NotFound(f"Python {python} is not installed here (installed: {self._installed()}).")

    def _installed(self) -> str:
        return ", ".join(self.pythons()) or "none"

    def _default_version(self) -> tuple[int, int]:
        """The default runtime's Python, decided here and nowhere else: the configured one
        (``LAKEWORKS_DEFAULT_PYTHON``), else the Python running Lakeworks when it is
        available (its runtime is the one a fresh install builds first), else the newest of
        CML's range, else the newest available."""
        if not self.available:
            raise NotFound(
                "No Python interpreter (3.9 to 3.13) was found on this host: install one, "
                "for example with `uv python install 3.11`."
            )
        if self._default_python:
            parsed = _parse_version(f"python{self._default_python}")
            if parsed is not None:
                return parsed
        versions = [i.version[:2] for i in self.available]
        if self._running in versions:
            return self._running
        preferred = [v for v in versions if v in PREFERRED_PYTHONS]
        major, minor = max(preferred or versions)
        return major, minor

    def _pick(
        self,
        editor: str,
        version: tuple[int, int],
        *,
        warn: Warn,
        edition: Edition = STANDARD,
    ) -> Runtime:
        if not self.available:
            self._default_version()  # raises NotFound with the hint
        # Nearest minor version; on a tie the older one, whose wheels old pins are likelier
        # to have.
        interpreter = min(
            self.available,
            key=lambda i: (
                abs(i.version[1] - version[1]) + 100 * abs(i.version[0] - version[0]),
                i.version,
            ),
        )
        if interpreter.version[:2] != version:
            warn(
                f"Python {version[0]}.{version[1]} is not installed here (installed: "
                f"{self._installed()}); using Python {interpreter.python}."
            )
        for runtime in self.runtimes:
            if (
                runtime.editor == editor
                and runtime.interpreter == interpreter
                and runtime.packages is edition
            ):
                return runtime
        raise NotFound(f"No {editor} {edition.name} runtime for Python {interpreter.python}.")


# This host's catalog ---------------------------------------------------------------------------

# The one process-wide cache of this room, on purpose: which Pythons are installed is a fact of
# the machine, not of a platform, and finding out runs every candidate interpreter (seconds:
# 16 s for five Pythons on a loaded 2-core machine). Each platform's runtime manager keeps its
# own ``Catalog`` made from it (``RuntimeManager.catalog``, with the platform's default Python),
# so only the discovery is shared; tests build a platform per test and would otherwise probe
# the host for each.
_host_catalog: Catalog | None = None
_host_catalog_lock = threading.Lock()


def host_catalog() -> Catalog:
    """This host's catalog, discovered on first use and then kept for the process."""
    global _host_catalog
    with _host_catalog_lock:
        if _host_catalog is None:
            _host_catalog = Catalog.discover()
        return _host_catalog


def use_catalog(catalog: Catalog | None) -> None:
    """Replace this process's catalog (``None``: discover again on next use)."""
    global _host_catalog
    with _host_catalog_lock:
        _host_catalog = catalog


def resolve(identifier: str | None, *, warn: Warn | None = None) -> Runtime:
    """``host_catalog().resolve(identifier)``: see ``Catalog.resolve``.

    Example::

        resolve("docker.repository.cloudera.com/cloudera/cdsw/"
                "ml-runtime-workbench-python3.10-standard:2023.08.2-b8").python_version
    """
    return host_catalog().resolve(identifier, warn=warn)


def list_runtimes(search_filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The ``GET /api/v2/runtimes`` rows of this host that match ``search_filter``."""
    return [runtime.api_fields() for runtime in host_catalog().search(search_filter)]

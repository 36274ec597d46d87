"""The runtimes of one installation: which are built, which are being built, which failed, and
building them in the background so that nobody's request waits minutes for one.

A ``RuntimeManager`` belongs to the ``Platform`` (one per server process). Its state is read
from the runtimes directory (built runtimes, build logs, failure records and build locks are
files there, see ``builder``), so several server processes sharing the directory agree, and a
restart loses nothing. Threads of this process add what the disk cannot say yet (a build that
just started here).

Runtimes are named by key (``editions``): ``"3.11"`` is Python 3.11's Standard runtime,
``"3.11-lean"`` its Lean one. Workload services ask ``ready(key, since=...)``: it returns the
runtime when it is built, starts a background build and raises ``RuntimePreparing`` when it
is not, and raises ``RuntimeBuildError`` when a build that started after ``since`` failed (so
one failure fails the workloads that were waiting for it, and a later request tries again).

Example::

    manager = RuntimeManager(Path("/var/lib/lakeworks/runtimes"))
    try:
        path = manager.ready("3.11", since=time.time())
    except RuntimePreparing as waiting:
        print(waiting.message)  # "Preparing runtime Python 3.11 (first use, about 2 minutes)"
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lakeworks.errors import InvalidState, NotFound
from lakeworks.runtimes import builder
from lakeworks.runtimes.builder import Log, RuntimeBuildError
from lakeworks.runtimes.catalog import Catalog, Interpreter, host_catalog, unavailable_reason
from lakeworks.runtimes.editions import EDITIONS, STANDARD, Edition, parse_key, runtime_key

log = logging.getLogger(__name__)

# How long a first build usually takes on a small machine (shown to people who wait).
TYPICAL_BUILD = "about 2 minutes"
# The longest a runtime build may take (downloads included) before it counts as failed.
BUILD_TIMEOUT_SECONDS = 1800.0
# How many lines of a failed build's output a workload's failure reason quotes.
REASON_LINES = 6
# Builds at once in one server process. Each is CPU-bound for most of its minutes (unpacking,
# compiling bytecode): on a small machine one after the other gets the first-needed runtime
# ready soonest (measured: four at once on 2 cores took 3-9 minutes each, one alone 2).
CONCURRENT_BUILDS = 1

Build = Callable[[Interpreter, Path, Log], Path]


class RuntimePreparing(InvalidState):
    """The runtime is being built; the workload waits (this is a phase, not a failure)."""

    code = "runtime_preparing"

    def __init__(self, key: str, log_path: Path) -> None:
        python, edition = parse_key(key)
        label = "" if edition is STANDARD else f" {edition.name}"
        super().__init__(f"Preparing runtime Python {python}{label} (first use, {TYPICAL_BUILD})")
        self.key = key
        self.log_path = log_path


_PREPARING = re.compile(
    r"^Preparing runtime Python (?P<python>3\.\d+)(?: (?P<edition>[A-Za-z]+))? "
)


def preparing_python(reason: str) -> str | None:
    """The key of the runtime a workload waits for (``"3.11"``, ``"3.11-lean"``), read from its
    reason (the message of ``RuntimePreparing``), so pages can follow that build's log; None
    otherwise."""
    match = _PREPARING.match(reason or "")
    if match is None:
        return None
    edition = next((e for e in EDITIONS if e.name == match["edition"]), STANDARD)
    return runtime_key(match["python"], edition)


def failure_reason(error: RuntimeBuildError) -> str:
    """``runtime build failed: <its last lines>``: what a waiting workload's reason says."""
    lines = [line for line in error.message.strip().splitlines() if line.strip()]
    return "runtime build failed: " + " | ".join(lines[-REASON_LINES:])[-1500:]


@dataclass(frozen=True)
class RuntimeState:
    """One runtime as the admin page and ``lakeworks runtimes list`` show it."""

    python: str  # "3.11"
    full_version: str  # "3.11.7"
    name: str  # its directory name, python3.11-<hash> (python3.11-lean-<hash>)
    path: Path
    state: str  # built | building | failed | not built | unavailable
    reason: str  # why it failed, or why it is unavailable
    size_bytes: int | None  # on disk, when built
    built_at: str  # ISO time, when built
    is_default: bool
    log_path: Path
    edition: str = STANDARD.name  # "Standard", "Lean"
    key: str = ""  # what the manager's methods take: "3.11", "3.11-lean"


class RuntimeManager:
    """Builds and tracks the runtimes under ``runtimes_dir``.

    ``default_python`` is ``LAKEWORKS_DEFAULT_PYTHON`` (empty: the catalog decides, see
    ``Catalog.default``). ``requirements`` and ``imports`` are the Standard runtime's lock and
    the modules it must import (``builder``'s defaults; other editions bring theirs);
    ``build`` replaces the uv build altogether (tests use a slow or failing one).
    """

    def __init__(
        self,
        runtimes_dir: Path,
        *,
        default_python: str = "",
        catalog: Catalog | None = None,
        requirements: Path = builder.REQUIREMENTS,
        imports: Sequence[str] = builder.BASE_IMPORTS,
        build: Build | None = None,
    ) -> None:
        self.runtimes_dir = runtimes_dir
        self.requirements = requirements
        self._imports = tuple(imports)
        self._default_python = default_python
        self._catalog = catalog
        self._custom_build = build
        self._lock = threading.Lock()
        self._build_slots = threading.BoundedSemaphore(CONCURRENT_BUILDS)
        self._threads: dict[str, threading.Thread] = {}
        self._built: dict[str, Path] = {}
        self._failed: dict[str, tuple[str, float]] = {}

    # The catalog ---------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """This host's interpreters, with this installation's default (discovered once per
        process: interpreters do not come and go while a server runs)."""
        if self._catalog is None:
            host = host_catalog()
            self._catalog = Catalog(host.interpreters, default_python=self._default_python or None)
        return self._catalog

    def default_python(self) -> str:
        """The default runtime's key (its Python: the default runtime is Standard)."""
        return self.catalog.default().python_version

    def _lock_of(self, edition: Edition) -> tuple[Path, Sequence[str]]:
        if edition is STANDARD:
            return self.requirements, self._imports
        return edition.requirements, edition.imports

    def _path(self, interpreter: Interpreter, edition: Edition = STANDARD) -> Path:
        requirements, _imports = self._lock_of(edition)
        return builder.runtime_path(interpreter, self.runtimes_dir, requirements, edition.slug)

    def _resolve(self, key: str) -> tuple[Interpreter, Edition]:
        """The interpreter and edition of ``key`` (``InvalidInput``/``NotFound`` otherwise)."""
        python, edition = parse_key(key)
        return self.catalog.interpreter(python), edition

    # State ---------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Where the runtime ``key`` is (or will be): this recipe's directory."""
        with self._lock:
            built = self._built.get(key)
        if built is not None:
            return built
        return self._path(*self._resolve(key))

    def log_path(self, key: str) -> Path:
        return builder.build_log_path(self._path(*self._resolve(key)))

    def is_built(self, key: str) -> bool:
        """Whether runtime ``key`` is ready (cheap: no size, no log)."""
        return builder.is_built(self.path_for(key))

    def is_building(self, key: str) -> bool:
        with self._lock:
            thread = self._threads.get(key)
        if thread is not None and thread.is_alive():
            return True
        return builder.is_building(self.path_for(key))

    def _failure(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            here = self._failed.get(key)
        on_disk = builder.last_failure(self.path_for(key))
        candidates = [f for f in (here, on_disk) if f is not None]
        return max(candidates, key=lambda f: f[1]) if candidates else None

    def state(self, key: str) -> RuntimeState:
        python, edition = parse_key(key)
        interpreter = next((i for i in self.catalog.interpreters if i.python == python), None)
        if interpreter is None:
            raise NotFound(f"Python {python} is not installed here.")
        why_not = unavailable_reason(interpreter)
        path = self._path(interpreter, edition) if why_not else self.path_for(key)
        size: int | None = None
        built_at = ""
        reason = why_not
        if why_not:
            state = "unavailable"
        elif builder.is_built(path):
            state = "built"
            size = builder.size_on_disk(path)
            built_at = _marker_time(path)
        elif self.is_building(key):
            state = "building"
        elif (failure := self._failure(key)) is not None:
            state, reason = "failed", failure[0]
        else:
            state = "not built"
        try:
            is_default = self.default_python() == key
        except NotFound:
            is_default = False
        return RuntimeState(
            python=python,
            full_version=interpreter.full_version,
            name=path.name,
            path=path,
            state=state,
            reason=reason,
            size_bytes=size,
            built_at=built_at,
            is_default=is_default,
            log_path=builder.build_log_path(self._path(interpreter, edition)),
            edition=edition.name,
            key=key,
        )

    def keys(self) -> list[str]:
        """Every runtime of the catalog: each Python (oldest first) in each edition."""
        return [
            runtime_key(i.python, edition)
            for i in self.catalog.interpreters
            for edition in EDITIONS
        ]

    def states(self) -> list[RuntimeState]:
        """Every runtime of the catalog, oldest Python first, Standard before other editions."""
        return [self.state(key) for key in self.keys()]

    def _current(self) -> dict[str, Path]:
        """Directory name → path of this release's runtime of every catalog Python and
        edition (cheap: no sizes, no logs)."""
        paths = {}
        for interpreter in self.catalog.interpreters:
            for edition in EDITIONS:
                key = runtime_key(interpreter.python, edition)
                path = (
                    self.path_for(key)
                    if not unavailable_reason(interpreter)
                    else self._path(interpreter, edition)
                )
                paths[path.name] = path
        return paths

    def stale(self) -> list[Path]:
        """Runtimes on disk that this release no longer uses (another lock or recipe)."""
        current = self._current()
        if not self.runtimes_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.runtimes_dir.iterdir()
            if path.is_dir()
            and not path.name.startswith(".")
            and path.name not in current
            and (path / builder.MARKER).is_file()
        )

    # Building ------------------------------------------------------------------------------

    def build_in_background(self, key: str) -> bool:
        """Start building runtime ``key`` in a thread of this process, unless it is built or
        already being built. True when a build started."""
        interpreter, edition = self._resolve(key)  # InvalidInput / NotFound
        if builder.is_built(self.path_for(key)):
            return False
        with self._lock:
            running = self._threads.get(key)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(
                target=self._run_build,
                args=(interpreter, edition),
                name=f"runtime-build-{key}",
                daemon=True,
            )
            self._threads[key] = thread
            thread.start()
        return True

    def build_now(self, key: str, *, log: Log | None = None) -> Path:
        """Build runtime ``key`` in this thread (``lakeworks runtimes build``); ``log`` gets
        the build tools' output. Returns at once when it is built."""
        interpreter, edition = self._resolve(key)
        requirements, imports = self._lock_of(edition)
        return builder.ensure_runtime(
            interpreter.python,
            self.runtimes_dir,
            interpreter=interpreter,
            requirements=requirements,
            imports=imports,
            log=log,
            timeout=BUILD_TIMEOUT_SECONDS,
            edition=edition.slug,
        )

    def _run_build(self, interpreter: Interpreter, edition: Edition) -> None:
        key = runtime_key(interpreter.python, edition)
        try:
            with self._build_slots:
                started = time.monotonic()
                if self._custom_build is not None:
                    path = self._custom_build(interpreter, self.runtimes_dir, _discard)
                else:
                    path = self.build_now(runtime_key(interpreter.python, edition), log=_discard)
        except RuntimeBuildError as error:
            log.warning("building the runtime %s failed: %s", key, error.message)
            with self._lock:
                self._failed[key] = (error.message, time.time())
            return
        except Exception as error:  # the outermost edge of a background thread
            log.exception("building the runtime %s failed", key)
            with self._lock:
                self._failed[key] = (f"internal error: {error}", time.time())
            return
        with self._lock:
            self._built[key] = path
            self._failed.pop(key, None)
        log.info("built the runtime %s in %.0f s", key, time.monotonic() - started)

    def ready(self, key: str, *, since: float | None = None) -> Path:
        """The built runtime ``key`` (``"3.11"``, ``"3.11-lean"``).

        Not built: a build starts in the background (unless one runs) and ``RuntimePreparing``
        says so. ``since`` is when the caller asked (Unix time): a build that failed after it
        raises ``RuntimeBuildError``; an older failure is retried.
        """
        path = self.path_for(key)
        if builder.is_built(path):
            return path
        if not self.is_building(key):
            failure = self._failure(key)
            if failure is not None and since is not None and failure[1] >= since:
                raise RuntimeBuildError(failure[0])
            self.build_in_background(key)
            path = self.path_for(key)
            if builder.is_built(path):  # a build that ended in between
                return path
        raise RuntimePreparing(key, self.log_path(key))

    def wait(self, key: str, *, since: float, timeout: float = BUILD_TIMEOUT_SECONDS) -> Path:
        """Block until runtime ``key`` is built (``ready``'s errors, and
        ``RuntimeBuildError`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.ready(key, since=since)
            except RuntimePreparing:
                if time.monotonic() > deadline:
                    raise RuntimeBuildError(
                        f"the runtime {key} was not ready within {timeout:.0f} s"
                    ) from None
            with self._lock:
                thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                thread.join(timeout=1.0)
            else:
                time.sleep(1.0)  # built by another process: its lock tells when it ends

    def remove(self, name: str) -> None:
        """Delete a built runtime by directory name (``python3.11-<hash>``), current or stale,
        unless it is being built or a running process uses it."""
        path = (self._current() | {p.name: p for p in self.stale()}).get(name)
        if path is None or not path.exists():
            raise NotFound(f"No runtime named {name!r} is built here.")
        if builder.is_building(path):
            raise InvalidState(f"Runtime {name} is being built; try again when it is done.")
        users = processes_using(path)
        if users:
            raise InvalidState(
                f"Runtime {name} is in use by {len(users)} running process(es); stop the "
                "workloads that use it first."
            )
        builder.remove_runtime(path)
        builder.build_log_path(path).unlink(missing_ok=True)
        builder.failure_path(path).unlink(missing_ok=True)
        with self._lock:
            for key, built in list(self._built.items()):
                if built == path:
                    del self._built[key]


def processes_using(path: Path) -> list[int]:
    """Pids of this host's processes started from the runtime at ``path`` (their command line
    names its interpreter; a sandbox mounts the runtime at the same path)."""
    needle = os.fsencode(str(path) + os.sep)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                if needle in handle.read():
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _discard(_text: str) -> None:
    """The build log goes to its file (``builder.build_log_path``); nothing else wants it."""


def _marker_time(path: Path) -> str:
    try:
        stamp = (path / builder.MARKER).stat().st_mtime
    except OSError:
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")

"""The package's dependency arrows (docs/architecture.md, "Rooms") hold: no room imports one
above it. Imports under ``if TYPE_CHECKING:`` are annotations only and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lakeworks

PACKAGE = Path(lakeworks.__file__).parent

# What may import what. A room is a top-level module or package of ``lakeworks``; two rooms
# are split finer because their parts sit at different heights: ``tracking.gate`` (the HTTP
# gate in front of MLflow, beside the proxy) above the rest of ``tracking`` (MLflow's stores,
# below services), and ``workload.site`` (code that runs inside workloads: nothing of the
# server) below ``workload``.
_BASE = {"errors", "lakeworks"}
_FOUNDATION = _BASE | {"config", "bounds", "safe_paths", "heap", "entities"}
_BELOW_SERVICES = _FOUNDATION | {
    "store",
    "executors",
    "runtimes",
    "tracking",
    "metrics",
    "data",
    "workload",
}
_SERVICES = _BELOW_SERVICES | {"services"}
ALLOWED: dict[str, set[str] | None] = {
    "errors": set(),
    "lakeworks": set(),
    "config": _BASE,
    "bounds": _BASE,
    "safe_paths": _BASE,
    "heap": _BASE,
    "entities": _BASE,
    "workload": _BASE,
    "workload.site": set(),
    "store": _FOUNDATION,
    "executors": _FOUNDATION,
    "runtimes": _FOUNDATION | {"workload"},
    "tracking": _FOUNDATION,
    "metrics": _FOUNDATION | {"store"},
    "data": _FOUNDATION | {"executors"},
    "services": _BELOW_SERVICES,
    "amps": _SERVICES,
    "scheduler": _SERVICES | {"amps"},
    "serving": _SERVICES,
    "web": _SERVICES,
    "tracking.gate": _SERVICES | {"web"},
    "proxy": _SERVICES | {"web"},
    "sdk": _BASE | {"workload"},
    "api": _SERVICES | {"web", "amps", "scheduler", "sdk"},
    "ui": _SERVICES | {"web", "amps", "scheduler"},
    # The composition roots: they wire every room together.
    "app": None,
    "cli": None,
}


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "lakeworks":
        raise ValueError(module)
    if len(parts) == 1:
        return "lakeworks"
    if parts[1:3] == ["tracking", "gate"]:
        return "tracking.gate"
    if parts[1:3] == ["workload", "site"]:
        return "workload.site"
    return parts[1]


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    relative = path.relative_to(package.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every ``lakeworks`` import outside ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lakeworks":
                # ``from lakeworks import safe_paths`` imports the room it names;
                # ``from lakeworks import __version__`` the package itself.
                found.extend(
                    (node.lineno, "lakeworks" if a.name.startswith("__") else f"lakeworks.{a.name}")
                    for a in node.names
                )
            else:
                found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(line, name) for line, name in found if name.split(".")[0] == "lakeworks"]


def _sources() -> list[Path]:
    skip = {"project_templates", "builtin"}  # files copied into projects, not server code
    return sorted(
        path for path in PACKAGE.rglob("*.py") if not skip & set(path.relative_to(PACKAGE).parts)
    )


def violations(sources: list[Path], package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sources:
        name = _module_name(path, package)
        source_room = room(name)
        allowed = ALLOWED[source_room]
        if allowed is None:
            continue
        for line, target in imports(ast.parse(path.read_text(), str(path))):
            target_room = room(target)
            if target_room != source_room and target_room not in allowed:
                relative = path.relative_to(package.parent)
                found.append(f"{relative}:{line}: {source_room} imports {target}")
    return found


def test_every_room_imports_only_rooms_below_it() -> None:
    sources = _sources()
    assert len(sources) > 150  # the walk found the package
    unknown = {room(_module_name(p)) for p in sources} - set(ALLOWED)
    assert not unknown, f"rooms missing from ALLOWED (add them, with their arrows): {unknown}"
    assert violations(sources) == []


@pytest.mark.parametrize(
    ("room_dir", "statement"),
    [
        ("services", "from lakeworks.api.deps import PrincipalDep"),
        ("store", "from lakeworks.services import projects"),
        ("entities", "import lakeworks.store.tables"),
        ("tracking", "from lakeworks.tracking.gate import MOUNT_PATH"),
    ],
)
def test_an_upward_import_is_caught(room_dir: str, statement: str, tmp_path: Path) -> None:
    """The check fails when an upward import is added (checked on a copy of the module)."""
    target = sorted((PACKAGE / room_dir).glob("*.py"))[-1]
    planted = tmp_path / "lakeworks" / room_dir / target.name
    planted.parent.mkdir(parents=True)
    planted.write_text(target.read_text() + f"\n{statement}\n")
    found = violations([planted], tmp_path / "lakeworks")
    assert len(found) == 1 and statement.split()[1] in found[0], found


def test_imports_under_type_checking_do_not_count() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from lakeworks.services.platform import Platform\n"
        "from lakeworks.errors import NotFound\n"
    )
    assert imports(tree) == [(4, "lakeworks.errors")]


# Process-wide state ------------------------------------------------------------------------
#
# Caches, registries and counters that live as long as the process belong to ``Platform``
# (``Platform.component``; STYLE 10), so a fresh platform (each test's) starts fresh. What
# stays in a module says here why it is not a platform's.
PROCESS_WIDE = {
    "runtimes/catalog.py:_host_catalog": "the host's installed Pythons are a fact of the machine "
    "and discovering them runs each one (seconds); platforms keep their own Catalog made from it",
    "proxy/upstream.py:_pools": "idle upstream connections belong to the event loop that opened "
    "them (weak keys: a pool goes with its loop); the server's shutdown closes its loop's pool",
    "services/sealing.py:_fernet": "a memo of a pure function of its arguments (key derivation)",
}
# Code that runs inside workloads (one user's process, no platform) and files copied into
# projects are not the server's.
_NOT_SERVER = {"site", "project_templates", "builtin"}
_MUTABLE_TYPES = {
    "dict",
    "list",
    "set",
    "defaultdict",
    "OrderedDict",
    "Counter",
    "deque",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "WeakSet",
}
_MUTATORS = {
    "append",
    "appendleft",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "popleft",
    "clear",
    "extend",
    "insert",
    "remove",
    "discard",
}
_MEMOS = {"cache", "lru_cache"}


def _called(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _module_values(tree: ast.Module) -> dict[str, ast.expr]:
    values: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = node.value
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            values[node.target.id] = node.value
    return values


def _is_registry(value: ast.expr) -> bool:
    """An empty container or a mutable container's constructor: nothing else starts that way."""
    if isinstance(value, ast.Dict):
        return not value.keys
    if isinstance(value, ast.List | ast.Set):
        return not value.elts
    return isinstance(value, ast.Call) and _called(value) in _MUTABLE_TYPES


def _changed_in_functions(tree: ast.Module, names: set[str]) -> set[str]:
    """Module names a function rebinds (``global``) or changes in place."""
    found: set[str] = set()
    rebound: set[str] = set()
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.Global):
                rebound.update(node.names)
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = (
                    node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                )
                found.update(
                    t.value.id
                    for t in targets
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                )
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
                and isinstance(node.func.value, ast.Name)
            ):
                found.add(node.func.value.id)
    return found & names | rebound


def process_wide_state(tree: ast.Module) -> set[str]:
    """Names of module-level state that outlives a platform: registries and caches (empty or
    constructed containers, containers a function changes, names a function rebinds with
    ``global``) and memoised functions."""
    values = _module_values(tree)
    found = {name for name, value in values.items() if _is_registry(value)}
    found |= _changed_in_functions(tree, set(values))
    found |= {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(_called(decorator) in _MEMOS for decorator in node.decorator_list)
    }
    return found


def state_of(sources: list[Path], package: Path = PACKAGE) -> list[str]:
    """``path:name`` of the process-wide state of the server's modules among ``sources``."""
    found = []
    for path in sources:
        relative = path.relative_to(package)
        if not _NOT_SERVER & set(relative.parts):
            tree = ast.parse(path.read_text(), str(path))
            found += [f"{relative.as_posix()}:{name}" for name in sorted(process_wide_state(tree))]
    return found


def test_process_wide_state_is_the_platforms() -> None:
    found = state_of(sorted(PACKAGE.rglob("*.py")))
    assert [key for key in found if key not in PROCESS_WIDE] == [], (
        "module-level registries or caches: make them the platform's (Platform.component), "
        "or add them to PROCESS_WIDE with the reason they cannot be"
    )
    # Every exception is still there (a stale entry would let a new registry of that name in).
    assert set(PROCESS_WIDE) <= set(found)


@pytest.mark.parametrize(
    "planted",
    [
        "_CACHE: dict[str, int] = {}",
        "_seen = set()",
        "import weakref\n_by_key = weakref.WeakKeyDictionary()",
        "_ROUTES = {'a': 1}\ndef _remember(key, value):\n    _ROUTES[key] = value",
        "_last = None\ndef _keep(value):\n    global _last\n    _last = value",
        "import functools\n@functools.lru_cache\ndef _answer(key):\n    return key",
    ],
)
def test_a_module_level_registry_is_caught(planted: str, tmp_path: Path) -> None:
    """The check fails when a registry is added (checked on a copy of a module that has none)."""
    source = PACKAGE / "services" / "sessions.py"
    copy = tmp_path / "lakeworks" / "services" / "sessions.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(source.read_text() + f"\n\n{planted}\n")
    found = state_of([copy], tmp_path / "lakeworks")
    assert len(found) == 1 and found[0].startswith("services/sessions.py:_"), found


def test_constant_tables_are_not_registries() -> None:
    tree = ast.parse(
        "TABLE = {'a': 1}\nNAMES = ['x']\nFROZEN = frozenset({1})\n"
        "def read(key):\n    return TABLE.get(key, NAMES[0])\n"
    )
    assert process_wide_state(tree) == set()

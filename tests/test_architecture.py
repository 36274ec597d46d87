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
_FOUNDATION = _BASE | {"config", "bounds", "safe_paths", "entities"}
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

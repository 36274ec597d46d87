"""``$name``/``{expr}`` expansion of ``!cmd`` lines (compat §1.2), without IPython."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from lakeworks.workload import site_dir


@pytest.fixture(scope="module")
def expand() -> Callable[[str, dict[str, Any]], str]:
    path = site_dir() / "lakeworks_runner" / "expand.py"
    spec = importlib.util.spec_from_file_location("_lakeworks_expand_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.expand  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("echo $x", "echo 5"),
        ("echo {x + 1}", "echo 6"),
        ("echo $name.upper", "echo <built-in method upper of str object at"),
        ("echo {name.upper()}", "echo ALICE"),
        ("echo {items[1:3]}", "echo [2, 3]"),
        ("echo {name!r}", "echo 'alice'"),
        ("echo $obj.attr", "echo 7"),
        # Not Python names: the shell gets them as written.
        ("echo $HOME", "echo $HOME"),
        ("echo $x $HOME", "echo 5 $HOME"),
        ("echo $CDSW_APP_PORT {x}", "echo $CDSW_APP_PORT 5"),
        ("find . -name '*.pyc' -exec rm {} \\;", "find . -name '*.pyc' -exec rm {} \\;"),
        ("awk '{print $1}' data.csv", "awk '{print $1}' data.csv"),
        ("echo {undefined_name} $x", "echo {undefined_name} 5"),
        # Escapes.
        ("echo $$x", "echo $x"),
        ("echo $$", "echo $$"),
        ("echo {{literal}} {x}", "echo {literal} 5"),
        # IPython leaves $ inside single quotes alone.
        ("echo '$x' $x", "echo '$x' 5"),
        # Unbalanced braces: the line is left as it is, as IPython does.
        ("echo } $x", "echo } $x"),
        ("", ""),
    ],
)
def test_expansion_follows_ipython_per_field(
    expand: Callable[[str, dict[str, Any]], str], command: str, expected: str
) -> None:
    namespace = {
        "x": 5,
        "name": "alice",
        "items": [1, 2, 3, 4],
        "obj": SimpleNamespace(attr=7),
    }
    assert expand(command, namespace).startswith(expected)


def test_a_failing_expression_does_not_raise(
    expand: Callable[[str, dict[str, Any]], str],
) -> None:
    assert expand("echo {1/0} {x}", {"x": 1}) == "echo {1/0} 1"

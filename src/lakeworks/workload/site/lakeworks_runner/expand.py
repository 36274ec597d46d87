"""``$name`` and ``{expr}`` expansion in ``!cmd`` lines (CML compat §1.2).

IPython's ``var_expand`` rules, with one difference: IPython gives up on the *whole* line when
any field fails to evaluate (``!echo $x $HOME`` reaches the shell untouched, so ``$x`` is not
expanded). Here each field stands alone: a field that evaluates is replaced, one that does not
(an environment variable such as ``$HOME``, awk's ``{print $1}``, find's ``{}``) stays exactly as
written for the shell. Where IPython expands a line, the result is the same string.

- ``$name`` / ``$name.attr``: the Python value; ``$$name`` gives a literal ``$name``.
- ``{expr}``: ``str(eval(expr))``; ``{{`` and ``}}`` give literal braces.
- ``$`` inside single quotes is left alone (IPython's rule, applied to each brace-free stretch).

This module uses the standard library only, so it can be tested without IPython.

Example::

    >>> expand("echo $x {x + 1} $HOME $$y {{}}", {"x": 5})
    'echo 5 6 $HOME $y {}'
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

# Copied from IPython's DollarFormatter so that ``$`` fields are found exactly where IPython
# finds them: a ``$`` followed by a name, not inside single quotes.
_DOLLAR = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")

_FORMATTER = string.Formatter()


class _Field:
    """One replaceable field and the text it came from (kept when evaluation fails)."""

    __slots__ = ("conversion", "expression", "original")

    def __init__(self, expression: str, conversion: str | None, original: str) -> None:
        self.expression = expression
        self.conversion = conversion
        self.original = original


def _pieces(command: str) -> Iterator[str | _Field]:
    for literal, name, spec, conversion in _FORMATTER.parse(command):
        start = 0
        text = ""
        for match in _DOLLAR.finditer(literal):
            before, field = match.group(1, 2)
            if field.startswith("$"):
                text += before + field  # $$name -> $name
            else:
                yield text + before
                text = ""
                yield _Field(field, None, "$" + field)
            start = match.end()
        yield text + literal[start:]
        if name is not None:
            original = "{" + name
            if conversion:
                original += "!" + conversion
            if spec:
                original += ":" + spec
            original += "}"
            # IPython treats ``{a[1:2]}`` as a slice, not as a format spec.
            expression = f"{name}:{spec}" if spec else name
            yield _Field(expression, conversion, original)


def expand(command: str, namespace: Mapping[str, Any]) -> str:
    """Return ``command`` with every field that evaluates in ``namespace`` replaced."""
    try:
        pieces = list(_pieces(command))
    except ValueError:
        # Unbalanced braces: IPython leaves such a line alone, and so do we.
        return command
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        try:
            value = eval(piece.expression, dict(namespace))
            if piece.conversion:
                value = _FORMATTER.convert_field(value, piece.conversion)
            out.append(_FORMATTER.format_field(value, ""))
        except Exception:
            # Not a Python value here: the shell gets the field as written.
            out.append(piece.original)
    return "".join(out)

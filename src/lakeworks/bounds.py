"""What the platform can give: the bounds on every number, name and JSON document a user sends.

One table, used by the API schemas (so OpenAPI documents them), by the services (so the UI's
forms get the same checks) and by the model gateway. A value past a bound is refused with
``InvalidInput`` saying which field and what the bound is; before these bounds, numbers such as
``memory: 1e308`` reached ``round()`` or the database and answered 500.

The figures are deliberately generous (far beyond one machine, within a large Ray cluster) and
fit every column type on SQLite and PostgreSQL (memory in MiB fits a 32-bit integer).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from lakeworks.errors import InvalidInput

MAX_CPU = 1024.0  # vCPU of one workload (or quota, or resource profile)
MAX_MEMORY_MB = 16 * 1024 * 1024  # 16 TiB, in MiB
MAX_GPU = 64
MAX_REPLICAS = 32  # of one model deployment
MAX_WORKERS = 32  # live workers of one session or job run (compat §12)
MAX_JOB_TIMEOUT_SECONDS = 35_000 * 60  # CML's maximum
MAX_REQUEST_TIMEOUT_SECONDS = 3600.0  # a model deployment's per-request timeout
MAX_SHARED_MEMORY_MB = MAX_MEMORY_MB  # a project's /dev/shm
MAX_NAME = 200  # names of projects, jobs, applications, models, profiles, teams
MAX_TEXT = 64 * 1024  # free text: descriptions, job arguments, comments
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in a request body or JSON field


def check_range(
    what: str, value: float, low: float, high: float, *, low_open: bool = False
) -> None:
    """Refuse ``value`` below ``low`` (or at it, when ``low_open``), above ``high``, or not
    finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value}.")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        if low_open and low == 0:
            wanted = f"positive and at most {high:g}"
        else:
            wanted = f"{'more than' if low_open else 'at least'} {low:g} and at most {high:g}"
        raise InvalidInput(f"{what} must be {wanted}; {_show(value)} is not.")


def _show(value: float) -> str:
    # format(10**400, "g") raises OverflowError; such a number is shown by its size instead.
    if isinstance(value, int) and abs(value) >= 10**15:
        return f"a number of {len(str(abs(value)))} digits"
    return f"{value:g}"


def check_resources(cpu: float, memory_mb: int, gpu: int = 0) -> None:
    """A workload's (or profile's, or quota's) size: positive, and no more than the bounds."""
    check_range("cpu (vCPU)", cpu, 0, MAX_CPU, low_open=True)
    check_range("memory (MiB)", memory_mb, 0, MAX_MEMORY_MB, low_open=True)
    check_range("nvidia_gpu", gpu, 0, MAX_GPU)


def memory_mb(gib: float, what: str = "memory") -> int:
    """GiB as CML's API sends them → MiB, refusing what no workload could be given (and what
    ``round`` cannot take: ``inf`` from ``1e308 * 1024``)."""
    check_range(f"{what} (GiB)", gib, 0, MAX_MEMORY_MB / 1024)
    return round(gib * 1024)


def check_text(what: str, value: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise InvalidInput(f"{what} is at most {limit} characters; this one has {len(value)}.")
    return value


def check_name(what: str, value: str) -> str:
    return check_text(what, value, MAX_NAME)


# JSON ----------------------------------------------------------------------------------------

# A JSON string literal (escapes included), so brackets inside strings are not counted.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (a JSON document), found without
    parsing it, so that a document nested 100,000 deep costs a scan, not a RecursionError."""
    opening = text.count("[") + text.count("{")
    if opening <= MAX_JSON_DEPTH:
        return opening  # an upper bound is enough: it is within the limit anyway
    # Regular expressions and map/accumulate keep the scan in C: a model request of a few MB
    # with many small arrays costs milliseconds, not a Python loop over every character.
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


class _Constant:
    """Where Python's json read NaN, Infinity or -Infinity (found afterwards, to say where)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _find_constant(value: Any) -> tuple[str, str]:
    """(the constant, where it is: ``cpu``, ``environment.A``, ``rows[3]``) in a parsed body."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Constant):
            return node.name, path or "the body"
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return "a constant", "the body"


def loads(data: str | bytes) -> Any:
    """``json.loads`` for what a user sent: NaN, Infinity and nesting past ``MAX_JSON_DEPTH``
    are refused with ``json.JSONDecodeError`` (a ``ValueError``), as any other invalid JSON.

    >>> loads('{"cpu": NaN}')
    Traceback (most recent call last):
    json.decoder.JSONDecodeError: NaN (at cpu) is not a number JSON allows: line 1 column 1 (char 0)
    """
    if isinstance(data, bytes):
        try:
            text = data.decode(json.detect_encoding(data), "surrogatepass")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"not UTF-8 text ({exc.reason})", "", 0) from exc
    else:
        text = data
    if json_depth(text) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError(f"nested more than {MAX_JSON_DEPTH} levels deep", text[:64], 0)
    constants: list[str] = []

    def constant(name: str) -> _Constant:
        constants.append(name)
        return _Constant(name)

    value = json.loads(text, parse_constant=constant)
    if constants:
        name, where = _find_constant(value)
        raise json.JSONDecodeError(f"{name} (at {where}) is not a number JSON allows", text, 0)
    return value

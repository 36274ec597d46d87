"""``cml.data_v1.incremental_append_scan`` on pyiceberg 0.12 (its own scan, and the fallback
this library carries, which must agree) and on pyiceberg 0.10 (the Python 3.9 runtime, where
only the fallback exists): the rows of the append snapshots in the range, overwrites' deletes
left out, clear errors for unknown and out-of-order ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.scheduler.conftest import RUNTIME_CACHE

from lakeworks.workload import site_dir

SCRIPT = r"""
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
import pyarrow as pa
import pyiceberg
from pyiceberg.catalog.sql import SqlCatalog
import cml.data_v1 as d

w = tempfile.mkdtemp()
c = SqlCatalog("t", uri=f"sqlite:///{w}/c.db", warehouse=f"file://{w}")
c.create_namespace("ns")
t = c.create_table("ns.t", pa.schema([("batch", pa.int64())]))
ids = []
for rows in ([0], [1, 1], [2, 2, 2]):
    t.append(pa.table({"batch": pa.array(rows, pa.int64())}))
    ids.append(t.current_snapshot().snapshot_id)
t.overwrite(pa.table({"batch": pa.array([9], pa.int64())}))  # a delete, then an append
t.append(pa.table({"batch": pa.array([4], pa.int64())}))
ids.append(t.current_snapshot().snapshot_id)

def rows(table):
    return sorted(table.column("batch").to_pylist())

def fallback(a, b):
    return d._appended_rows(t, d._snapshot_range(t, a, b), t.schema(), None, None)

out = {"version": pyiceberg.__version__, "native": hasattr(t, "incremental_append_scan")}
def library(a, b):
    return d.incremental_append_scan(t, a, b)

for name, scan in (("library", library), ("fallback", fallback)):
    out[name] = [rows(scan(ids[0], ids[1])), rows(scan(ids[0], ids[2])), rows(scan(ids[2], ids[3])),
                 rows(scan(None, ids[1]))]
out["equal"] = d.incremental_append_scan(t, ids[1], ids[1]).num_rows
out["filtered"] = rows(d.incremental_append_scan(t, ids[0], ids[2], row_filter="batch >= 2"))
errors = []
for a, b in ((ids[2], ids[0]), (123, ids[1]), (ids[0], 456)):
    try:
        d.incremental_append_scan(t, a, b)
        errors.append("no error")
    except ValueError as exc:
        errors.append(str(exc))
out["errors"] = errors
print("RESULT " + json.dumps(out))
"""


def _run(python: str) -> dict[str, object]:
    done = subprocess.run(
        [python, "-c", SCRIPT, str(site_dir())], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _check(found: dict[str, object]) -> None:
    expected = [[1, 1], [1, 1, 2, 2, 2], [4, 9], [0, 1, 1]]
    assert found["library"] == expected
    assert found["fallback"] == expected
    assert found["equal"] == 0
    assert found["filtered"] == [2, 2, 2]
    out_of_order, unknown_from, unknown_to = found["errors"]  # type: ignore[misc]
    assert "out of order" in out_of_order and "give the older one first" in out_of_order
    assert "from_snapshot_id_exclusive 123 is not a snapshot of table ns.t" in unknown_from
    assert "to_snapshot_id_inclusive 456 is not a snapshot of table ns.t" in unknown_to


def test_on_the_servers_pyiceberg() -> None:
    found = _run(sys.executable)
    assert found["native"] is True  # 0.12: pyiceberg's own scan, checked against the fallback
    _check(found)


def _python39() -> str:
    for candidate in sorted(RUNTIME_CACHE.glob("python3.9-*"), reverse=True):
        python = candidate / "bin" / "python"
        probe = subprocess.run(
            [str(python), "-c", "import pyiceberg, pyarrow"], capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return str(python)
    pytest.skip("no Python 3.9 runtime with pyiceberg built (scripts/test with all Pythons)")


def test_on_pyiceberg_0_10_in_the_python_3_9_runtime() -> None:
    found = _run(_python39())
    assert str(found["version"]).startswith("0.10") and found["native"] is False
    _check(found)


def test_the_library_stays_python_3_9() -> None:
    import ast

    for source in Path(site_dir(), "cml", "data_v1").glob("*.py"):
        ast.parse(source.read_text(), feature_version=(3, 9))

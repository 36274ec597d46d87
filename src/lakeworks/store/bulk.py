"""Statements over many rows at once, for the scheduler's batches (a batch of job runs is
claimed, recorded and started together): one Core statement executed with many parameter
sets costs one statement's building, where the ORM's per-row statements cost each theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def as_row(kind: type[Row], values: Mapping[str, Any]) -> Row:
    """Values as inserted, read as a row of ``kind`` by the repositories' ``to_…``
    converters: an ORM instance for each (its attribute instrumentation) was a tenth of the
    CPU of a batch that inserts hundreds of rows by Core statements."""
    return cast(Row, SimpleNamespace(**values))


def move_each(
    session: Session,
    table: Table,
    expected: str,
    target: str,
    rows: Sequence[Mapping[str, Any]],
) -> set[str]:
    """Move each row (by ``id``) from status ``expected`` to ``target`` with its own other
    values (every row the same keys), in one executemany of ``UPDATE … WHERE id = :id AND
    status = :expected``; the ids that moved. A row another writer moved elsewhere first is
    left as it is, as by one conditional update each.

    Only for moves no other writer makes (a launcher recording the processes it started):
    when some rows did not move, the ones found at ``target`` are taken as moved here. A
    move that competing writers make (a claim) is one ``UPDATE … RETURNING`` instead."""
    if not rows:
        return set()
    keys = sorted(set(rows[0]) - {"id"})
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == expected)
        .values(status=target, **{key: bindparam(f"b_{key}") for key in keys})
    )
    result = session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
    ids = [str(row["id"]) for row in rows]
    if result.rowcount == len(ids):
        return set(ids)
    # Some did not move: those that are at ``target`` now are the ones this statement moved
    # (nobody else moves these rows from ``expected`` to ``target``, and the rows it moved
    # are locked until this transaction ends).
    return set(
        session.scalars(select(table.c.id).where(table.c.id.in_(ids), table.c.status == target))
    )


def set_each(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set each row's (by ``id``) own values (every row the same keys), in one executemany."""
    if not rows:
        return
    keys = sorted(set(rows[0]) - {"id"})
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(**{key: bindparam(f"b_{key}") for key in keys})
    )
    session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])

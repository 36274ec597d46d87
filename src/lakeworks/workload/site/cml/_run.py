"""Where a job run's metrics and files go: ``$LAKEWORKS_OUTPUT_DIR``, set by Lakeworks for runs.

- metrics: one JSON object a line in ``metrics.jsonl``:
  ``{"key": ..., "value": ..., "timestamp_ms": ...}``;
- files: copied under ``files/`` with their project-relative path.

Elsewhere (a session, a plain ``python``) nothing is recorded and one note says so on stderr.
The experiments and models work gives these calls their run-page and prediction-record meanings.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from typing import Any

OUTPUT_DIR_VARIABLE = "LAKEWORKS_OUTPUT_DIR"

_noted = False


def output_dir() -> str | None:
    return os.environ.get(OUTPUT_DIR_VARIABLE) or None


def _note_not_recorded(what: str) -> None:
    global _noted
    if not _noted:
        _noted = True
        print(
            f"cdsw: {what} is recorded in job runs only; not recorded in this workload",
            file=sys.stderr,
        )


def _jsonable(value: Any) -> Any:
    # numpy and pandas scalars and arrays: .item() / .tolist(); anything else as text.
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except (TypeError, ValueError):
                continue
    return str(value)


def record_metric(key: str, value: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"metric key must be a string, not {type(key).__name__}")
    directory = output_dir()
    if directory is None:
        _note_not_recorded("track_metric")
        return
    line = json.dumps(
        {"key": key, "value": value, "timestamp_ms": int(time.time() * 1000)},
        default=_jsonable,
    )
    os.makedirs(directory, exist_ok=True)
    # One write of one whole line: concurrent writers (threads, workers) never interleave.
    with open(os.path.join(directory, "metrics.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _project_root() -> str:
    return os.environ.get("HOME") or os.getcwd()


def record_file(path: str) -> str | None:
    """Copy ``path`` into the run's files; return the copy's path (``None`` if not recorded)."""
    directory = output_dir()
    if directory is None:
        _note_not_recorded("track_file")
        return None
    source = os.fspath(path)
    if not os.path.isabs(source) and not os.path.exists(source):
        # Project-relative, as CML documents it, even after the script changed directory.
        source = os.path.join(_project_root(), source)
    if not os.path.isfile(source):
        print(f"cdsw.track_file: no such file: {path}", file=sys.stderr)
        return None
    absolute = os.path.abspath(source)
    root = os.path.abspath(_project_root())
    relative = os.path.relpath(absolute, root)
    if relative.startswith(os.pardir):
        relative = os.path.basename(absolute)
    target = os.path.join(directory, "files", relative)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(absolute, target)
    return target

"""The project's data files as Data tab tables (``data/sources.py``): the walk is bounded and
says when it is cut short, and it is kept while the folders it read are unchanged, so the
pages and queries of the Data tab do not walk the project each time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lakeworks.data.sources import ProjectFiles


def _files(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("a,b\n1,2\n")


def _settle(root: Path) -> None:
    """Date every folder a minute back, as a project nobody is writing to."""
    past = time.time() - 60
    for folder, _dirs, _files in os.walk(root):
        os.utime(folder, (past, past))


def test_a_listing_past_the_limit_is_cut_short_and_says_so(tmp_path: Path) -> None:
    _files(tmp_path / "p", [f"data/t{n}.csv" for n in range(5)])
    files = ProjectFiles(tmp_path, max_sources=3)
    assert [s.name for s in files.sources("p")] == ["t0", "t1", "t2"]
    notice = files.notice("p")
    assert "Only the first 3 Parquet/CSV files" in notice
    exact = ProjectFiles(tmp_path, max_sources=5)
    assert len(exact.sources("p")) == 5 and exact.notice("p") == ""


def test_the_walk_is_kept_until_a_folder_changes(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _files(root, ["churn.csv", "data/sales.csv", "data/deep/old.parquet"])
    _settle(root)
    files = ProjectFiles(tmp_path, max_sources=10)
    first = files.listing("p")
    assert files.listing("p") is first  # no new walk
    assert [s.name for s in files.sources("p")] == ["churn", "old", "sales"]

    # A new file deep down changes its folder: the next listing walks again and has it.
    (root / "data/deep/new.csv").write_text("x\n1\n")
    again = files.listing("p")
    assert again is not first
    assert "data/deep/new.csv" in [path for path, _fmt in again.files]
    # Modified this instant: not kept (a change in the same clock tick could go unseen).
    assert files.listing("p") is not again

    # A folder swapped for another (the root's mtime put back): its inode tells.
    _settle(root)
    kept = files.listing("p")
    assert files.listing("p") is kept
    before, data = os.stat(root), os.stat(root / "data")
    os.rename(root / "data", root / "gone")
    _files(root, ["data/other.csv"])
    for folder, was in ((root / "data", data), (root, before)):  # only the inode differs
        os.utime(folder, ns=(was.st_atime_ns, was.st_mtime_ns))
    assert [s.name for s in files.sources("p")] == ["churn", "other", "new", "old", "sales"]

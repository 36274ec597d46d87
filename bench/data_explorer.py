"""Data page benchmarks (issue 16).

Part "explorer": the SQL explorer over a 1M-row Parquet table of a project. A GROUP BY through
the real service path (permission check, table discovery through safe_paths, a locked-down
DuckDB, history written to the database) and the same GROUP BY as a bar chart of a dashboard
(the visual's SQL over a dataset), timed to the first page of rows; next to pandas reading
the same Parquet file and grouping it. Prints p50/p99 of each and the ratio; asserts nothing.

    uv run python bench/data_explorer.py [--rows 1000000] [--runs 20]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lakeworks.config import Settings
from lakeworks.entities.datasets import RECORD_COUNT
from lakeworks.services import data_queries, datasets, projects, users
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.uow import Store

GROUP_BY = (
    "SELECT category, count(*) AS n, sum(amount) AS total, avg(amount) AS mean "
    "FROM sales GROUP BY category ORDER BY category"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sales_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(16)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "category": pa.array([f"cat-{i:02d}" for i in rng.integers(0, 50, rows)]),
            "region": pa.array(
                [["north", "south", "east", "west"][i] for i in rng.integers(0, 4, rows)]
            ),
            "amount": rng.gamma(2.0, 40.0, rows),
            "quantity": rng.integers(1, 20, rows),
        }
    )


def timed(runs: int, action: Callable[[], object]) -> list[float]:
    action()  # warm: imports, page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def explorer(rows: int, runs: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-data-"))
    settings = Settings(data_dir=data, secret_key=secrets.token_urlsafe(48))
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    platform = Platform(settings, Store(engine))
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    user = users.create_user(platform, None, username="bench", password=None)
    owner = Principal(user=user, via="cli")
    project = projects.create(platform, owner, name="Bench", source=projects.parse_source("", ""))
    path = settings.projects_dir / project.id / "sales.parquet"
    pq.write_table(sales_table(rows), path)
    print(f"table: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB Parquet")

    dataset = datasets.create_dataset(platform, owner, project.id, "Sales", "FROM sales")
    board = datasets.create_dashboard(
        platform,
        owner,
        project.id,
        "Sales",
        "",
        [
            VisualSpec(
                dataset.id, "bar", "", ("category",), ((RECORD_COUNT, "count"), ("amount", "sum"))
            )
        ],
    )

    def sql() -> object:
        page = data_queries.run_query(platform, owner, project.id, GROUP_BY).page
        assert len(page.rows) == 50
        return page

    def chart() -> object:
        _visual, page = datasets.visual_data(platform, owner, project.id, board.id, 1)
        assert len(page.rows) == 50
        return page

    def pandas_groupby() -> object:
        frame = pd.read_parquet(path)
        out = frame.groupby("category")["amount"].agg(["count", "sum", "mean"]).sort_index()
        assert len(out) == 50
        return out

    results = {
        "explorer GROUP BY (service path)": timed(runs, sql),
        "dashboard bar chart (visual SQL)": timed(runs, chart),
        "pandas read_parquet + groupby": timed(runs, pandas_groupby),
    }
    for name, samples in results.items():
        print(
            f"{name:34s} p50 {percentile(samples, 0.5) * 1000:7.1f} ms   "
            f"p99 {percentile(samples, 0.99) * 1000:7.1f} ms"
        )
    ours = percentile(results["explorer GROUP BY (service path)"], 0.5)
    theirs = percentile(results["pandas read_parquet + groupby"], 0.5)
    print(
        f"time to first rows, p50: explorer {ours * 1000:.0f} ms (goal ≤ 1000 ms); "
        f"pandas / explorer = {theirs / ours:.1f}x"
    )
    platform.store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["explorer"], default="explorer")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if args.part == "explorer":
        explorer(args.rows, args.runs)


if __name__ == "__main__":
    main()

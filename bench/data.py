"""Incremental read of the newest batch of an Iceberg table vs a full scan with a filter
(issue 16; the Data page's SQL explorer is measured by bench/data_explorer.py).

Builds a table of ``--rows`` rows appended in batches of ``--batch`` rows (5M in 100k batches:
50 snapshots) in a project's catalog of the platform (``SqlCatalog`` on SQLite, files through
``SafeFileIO``, as the server reads them), then times, over ``--repeats`` rounds:

- ``incremental``: ``cml.data_v1.incremental_append_scan`` between the last two snapshots;
- ``filtered``: ``table.scan(row_filter="batch == <newest>")`` (pyiceberg prunes data files by
  their column statistics, so it also reads only the newest file);
- ``full``: every row read, then filtered on the batch column (what an engine without file
  statistics does).

Prints p50/p99 of each and the ratios; asserts nothing.

    uv run python bench/data.py [--rows 5000000] [--batch 100000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from lakeworks.config import Settings
from lakeworks.data.iceberg import IcebergCatalogs
from lakeworks.store.database import make_engine, upgrade
from lakeworks.workload import site_dir


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def batch_of(number: int, size: int) -> pa.Table:
    start = number * size
    return pa.table(
        {
            "batch": pa.array([number] * size, pa.int64()),
            "id": pa.array(range(start, start + size), pa.int64()),
            "amount": pc.multiply(pa.array(range(size), pa.float64()), 0.01),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(site_dir()))
    import cml.data_v1 as cmldata

    data = Path(tempfile.mkdtemp(prefix="lakeworks-bench-data-"))
    settings = Settings(data_dir=data, secret_key=secrets.token_urlsafe(48))
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    catalog = IcebergCatalogs(settings, engine).catalog("bench-project")
    table = catalog.create_table("default.transactions", batch_of(0, 1).schema)
    batches = args.rows // args.batch
    started = time.perf_counter()
    for number in range(batches):
        table.append(batch_of(number, args.batch))
    print(f"wrote {batches} batches of {args.batch} rows in {time.perf_counter() - started:.1f} s")
    table = catalog.load_table("default.transactions")
    newest = table.current_snapshot()
    previous = newest.parent_snapshot_id

    def incremental() -> int:
        return cmldata.incremental_append_scan(table, previous, newest.snapshot_id).num_rows

    def filtered() -> int:
        return table.scan(row_filter=f"batch == {batches - 1}").to_arrow().num_rows

    def full() -> int:
        rows = table.scan().to_arrow()
        return rows.filter(pc.equal(rows["batch"], batches - 1)).num_rows

    timings: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, read in (("incremental", incremental), ("filtered", filtered), ("full", full)):
            start = time.perf_counter()
            assert read() == args.batch
            timings.setdefault(name, []).append(time.perf_counter() - start)
    for name, samples in timings.items():
        print(
            f"{name:12s} p50 {percentile(samples, 0.5) * 1000:8.1f} ms   "
            f"p99 {percentile(samples, 0.99) * 1000:8.1f} ms   "
            f"mean {statistics.mean(samples) * 1000:8.1f} ms"
        )
    print("load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    base = percentile(timings["incremental"], 0.5)
    for name in ("filtered", "full"):
        print(f"{name} / incremental (p50): {percentile(timings[name], 0.5) / base:.1f}x")


if __name__ == "__main__":
    main()

"""What the server's background work costs the model gateway's 1-client tail (issue 17).

One Lakeworks server (as ``serving.py`` builds it: in this process, one deployed replica of
the same churn model), loaded by ``wrk`` at one client, with its background work switched
between variants round by round (interleaved, so the machine's drift falls on all alike):

- ``base``: as it runs in production;
- ``whole``: each batch written in one statement per table, as the writer did before it
  wrote in chunks (of 64 records, with the interpreter lock let go between them);
- ``chunk<N>``: in chunks of N records;
- ``nowrites``: the metrics writer's batches dropped instead of written;
- ``nosamples`` / ``nopredictions``: only the prediction records / only the request samples
  written (which of the two rows a request adds costs the tail);
- ``notick``: the scheduler's tick skipped;
- ``none``: both;
- ``proc``: the batches written by a child process (its own store on the same database)
  instead of the writer's thread: a prototype of moving the writes out of the server's
  process, where they share the interpreter lock with the event loop;
- ``replica``: the bare replica in its network namespace, for reference.

Prints p50 and p99 per variant and round, and the medians. Asserts nothing. The variants
replace private methods of a live server (``MetricsWriter._write``, ``Scheduler.tick``):
a measurement only, never a setting.

    uv run python bench/serving_background.py [--rounds 4] [--seconds 4]
        [--variants base,whole,nowrites,notick,none,proc]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import serving  # this directory's serving bench: the server and the load
from lakeworks.metrics.writer import split


def write_in_child(database_url: str, batches: Any) -> None:
    """The ``proc`` variant's writer: each batch received is written in one transaction."""
    from lakeworks.store.database import make_engine
    from lakeworks.store.uow import Store

    store = Store(make_engine(database_url))
    while (items := batches.get()) is not None:
        predictions, samples = split(items)
        with store.transaction() as uow:
            uow.model_metrics.add_predictions(predictions)
            uow.model_metrics.add_requests(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serving.add_run_arguments(parser, rounds=4)
    parser.add_argument("--variants", default="base,whole,nowrites,notick,none,proc")
    args = parser.parse_args()
    variants = args.variants.split(",")
    work = Path(tempfile.mkdtemp(prefix="lakeworks-serving-background-"))
    lw = serving.Lakeworks(work, Path(args.runtimes_dir))
    child = None
    batches: Any = None
    try:
        files = {
            "predict.py": serving.PREDICT.encode(),
            "model.pkl": serving.train_in(lw.runtime_python()),
        }
        key, api_key, deployment_id = lw.deploy(files, 1)
        body = json.dumps({"accessKey": key, "request": serving.ROW}).encode()
        auth = {"Authorization": f"Bearer {api_key}"}
        replica_port, netns, _ = lw.replica_endpoints(deployment_id)
        serving.load(lw.port, "/model", body, auth, 1, 2.0)  # warm up
        scheduler, writer = lw.app.state.scheduler, lw.app.state.metrics
        real_tick, real_write = scheduler.tick, writer._write
        chunk_size = writer.chunk_size
        if "proc" in variants:
            context = multiprocessing.get_context("spawn")
            batches = context.Queue()
            child = context.Process(
                target=write_in_child,
                args=(lw.platform.settings.resolved_database_url, batches),
                daemon=True,
            )
            child.start()

        writes = {
            "nowrites": lambda items: None,
            "none": lambda items: None,
            "nosamples": lambda items: real_write(split(items)[0]),
            "nopredictions": lambda items: real_write(split(items)[1]),
            "proc": batches.put if batches is not None else real_write,
        }

        def use(variant: str) -> None:
            skip_tick = variant in ("notick", "none")
            scheduler.tick = (lambda *a, **k: False) if skip_tick else real_tick
            writer.chunk_size = chunk_size
            if variant == "whole":
                writer.chunk_size = writer.batch_size
            elif variant.startswith("chunk"):
                writer.chunk_size = int(variant.removeprefix("chunk"))
            writer._write = writes.get(variant, real_write)

        results: dict[str, list[dict[str, float]]] = {v: [] for v in [*variants, "replica"]}
        print(f"1 client, {args.seconds:g} s a measurement, {args.rounds} rounds, interleaved")
        for round_no in range(args.rounds):
            for variant in variants:
                use(variant)
                time.sleep(0.3)
                results[variant].append(
                    serving.load(lw.port, "/model", body, auth, 1, args.seconds)
                )
            use("base")
            results["replica"].append(
                serving.load(
                    replica_port,
                    "/predict",
                    json.dumps(serving.ROW).encode(),
                    {},
                    1,
                    args.seconds,
                    netns,
                )
            )
            cells = ", ".join(
                f"{v} {r[-1]['p50']:.2f}/{r[-1]['p99']:.2f}" for v, r in results.items()
            )
            print(f"round {round_no + 1} (p50/p99 ms): {cells}", flush=True)
        print("\nmedian of the rounds:")
        for variant, outs in results.items():
            print(
                f"  {variant:10} req/s {statistics.median(o['rps'] for o in outs):6.0f}  "
                f"p50 {statistics.median(o['p50'] for o in outs):5.2f} ms  "
                f"p99 {statistics.median(o['p99'] for o in outs):5.2f} ms"
            )
    finally:
        if batches is not None:
            batches.put(None)
        if child is not None:
            child.join(timeout=10)
        lw.close()


if __name__ == "__main__":
    main()

"""The batched metrics writer: non-blocking submits, batches, flush, drops when full."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from tests.metrics.support import Deployed

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.metrics.writer import MetricsWriter
from lakeworks.store.uow import Store


def prediction(d: Deployed, start: int, **metrics: object) -> PredictionRecord:
    return PredictionRecord(
        d.deployment_id, d.build_id, d.model_id, str(uuid.uuid4()), start, start + 5, metrics
    )


def sample(d: Deployed, at: int, status: int = 200) -> RequestSample:
    return RequestSample(d.model_id, d.deployment_id, "r1", at, 12.5, status)


@pytest.fixture
def writer(store: Store) -> Iterator[MetricsWriter]:
    w = MetricsWriter(store, batch_size=100)
    w.start()
    yield w
    w.stop()


def test_submitted_records_are_stored_in_batches_after_flush(
    writer: MetricsWriter, store: Store, deployed: Deployed
) -> None:
    for i in range(250):
        assert writer.submit_prediction(prediction(deployed, 1_000 + i, i=i))
        assert writer.submit_request(sample(deployed, 1_000 + i))
    writer.flush()

    with store.transaction() as uow:
        records = uow.model_metrics.read(deployment_id=deployed.deployment_id)
        samples = uow.model_metrics.requests(model_id=deployed.model_id, start_ms=0, end_ms=10_000)
    assert [r.metrics()["i"] for r in records] == list(range(250))
    assert len(samples) == 250
    assert writer.stats.written == 500
    # 500 items with batches of at most 100: at least 5 transactions, far fewer than 500.
    assert 5 <= writer.stats.batches < 500


def test_flush_without_the_thread_writes_in_the_caller(store: Store, deployed: Deployed) -> None:
    writer = MetricsWriter(store)
    writer.submit_prediction(prediction(deployed, 10, a=1))
    with store.transaction() as uow:
        assert uow.model_metrics.read(deployment_id=deployed.deployment_id) == []
    writer.flush()
    with store.transaction() as uow:
        assert len(uow.model_metrics.read(deployment_id=deployed.deployment_id)) == 1


def test_a_full_queue_drops_and_counts_without_blocking(
    store: Store, deployed: Deployed, caplog: pytest.LogCaptureFixture
) -> None:
    writer = MetricsWriter(store, max_queue=3)  # not started: nothing drains it
    results = [writer.submit_request(sample(deployed, i)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert writer.stats.dropped == 2
    assert "metrics queue full" in caplog.text
    writer.flush()
    assert writer.stats.written == 3


def test_a_duplicate_uuid_loses_only_that_record(
    writer: MetricsWriter, store: Store, deployed: Deployed
) -> None:
    first = prediction(deployed, 1, n=1)
    writer.submit_prediction(first)
    writer.flush()
    writer.submit_prediction(prediction(deployed, 2, n=2))
    writer.submit_prediction(first)  # same uuid again
    writer.submit_prediction(prediction(deployed, 3, n=3))
    writer.flush()
    with store.transaction() as uow:
        records = uow.model_metrics.read(deployment_id=deployed.deployment_id)
    assert [r.metrics()["n"] for r in records] == [1, 2, 3]
    assert writer.stats.failed == 1


def test_submits_from_many_threads_are_all_written(
    writer: MetricsWriter, store: Store, deployed: Deployed
) -> None:
    def submit(offset: int) -> None:
        for i in range(200):
            writer.submit_prediction(prediction(deployed, offset + i))

    threads = [threading.Thread(target=submit, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.flush()
    with store.transaction() as uow:
        assert len(uow.model_metrics.read(deployment_id=deployed.deployment_id)) == 800


def test_stop_writes_what_is_queued(store: Store, deployed: Deployed) -> None:
    writer = MetricsWriter(store, linger_seconds=0.5)
    writer.start()
    for i in range(10):
        writer.submit_prediction(prediction(deployed, i))
    writer.stop()
    assert not writer.running
    with store.transaction() as uow:
        assert len(uow.model_metrics.read(deployment_id=deployed.deployment_id)) == 10


def test_a_batch_in_chunks_is_one_transaction_in_order(store: Store, deployed: Deployed) -> None:
    writer = MetricsWriter(store, chunk_size=3)  # not started: flush writes in one batch
    for i in range(10):
        writer.submit_prediction(prediction(deployed, 100 + i, i=i))
        writer.submit_request(sample(deployed, 100 + i, status=200 + i))
    writer.flush()
    with store.transaction() as uow:
        records = uow.model_metrics.read(deployment_id=deployed.deployment_id)
        samples = uow.model_metrics.requests(model_id=deployed.model_id, start_ms=0, end_ms=1_000)
    assert [r.metrics()["i"] for r in records] == list(range(10))
    assert [s.status for s in samples] == [200 + i for i in range(10)]
    assert (writer.stats.batches, writer.stats.written, writer.stats.failed) == (1, 20, 0)


def test_a_failure_in_a_late_chunk_keeps_the_earlier_chunks_once(
    store: Store, deployed: Deployed
) -> None:
    first = prediction(deployed, 1, n=0)
    writer = MetricsWriter(store, chunk_size=2)
    writer.submit_prediction(first)
    writer.flush()
    for n in range(1, 6):
        writer.submit_prediction(prediction(deployed, 1 + n, n=n))
    writer.submit_prediction(first)  # the last chunk holds a stored uuid: the batch fails
    writer.flush()
    with store.transaction() as uow:
        records = uow.model_metrics.read(deployment_id=deployed.deployment_id)
    # The chunks before the failure were rolled back with it, then written one by one.
    assert [r.metrics()["n"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert writer.stats.failed == 1

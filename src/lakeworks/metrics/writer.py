"""Batched, non-blocking writes of gateway records to the metrics store.

The gateway calls ``submit_request`` / ``submit_prediction`` on every request: each puts the
record on a bounded queue and returns at once. A background thread takes what is queued and
writes it in one transaction per batch. When the queue is full the record is dropped and
counted (with a log warning): the request path never waits for the database.

A batch is written in statements of ``chunk_size`` records with the interpreter lock let go
between them: the writer shares the lock with the server's event loop, and one statement of
a few hundred records held it long enough to show in the gateway's 1-client p99
(``bench/serving_background.py``, five interleaved rounds: 3.05 ms with whole batches,
2.28 ms in chunks of 64, 2.24 in chunks of 16, 2.71 in chunks of 256, 1.95 with no writes at
all). A chunk is a statement's fixed cost more: 400 records take 3.7 ms of CPU in chunks of
64, 5.7 in chunks of 16, 3.0 whole.

Example::

    writer = MetricsWriter(store)
    writer.start()
    writer.submit_prediction(PredictionRecord("dep", "build", "model", uuid, t0, t1, {}))
    writer.flush()  # everything submitted so far is now stored
    writer.stop()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.errors import LakeworksError
from lakeworks.store.uow import Store

log = logging.getLogger("lakeworks.metrics")

_Item = PredictionRecord | RequestSample


def split(items: list[_Item]) -> tuple[list[PredictionRecord], list[RequestSample]]:
    """The prediction records and the request samples of a batch, each in submit order."""
    predictions = [i for i in items if isinstance(i, PredictionRecord)]
    samples = [i for i in items if isinstance(i, RequestSample)]
    return predictions, samples


@dataclass
class WriterStats:
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # queue full
    failed: int = 0  # the database refused them (e.g. a duplicate prediction uuid)
    batches: int = 0


class MetricsWriter:
    """A bounded queue and one background thread writing batches in one transaction each."""

    def __init__(
        self,
        store: Store,
        *,
        max_queue: int = 100_000,
        batch_size: int = 2_000,
        linger_seconds: float = 0.25,
        chunk_size: int = 64,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.chunk_size = max(1, chunk_size)
        self.linger_seconds = linger_seconds
        self.stats = WriterStats()
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._enqueued = 0  # items accepted onto the queue
        self._processed = 0  # items taken off and written (or failed)
        self._write_lock = threading.Lock()  # one batch at a time (thread or flush)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_drop_log = 0.0

    # The request path ----------------------------------------------------------------

    def submit_request(self, sample: RequestSample) -> bool:
        """Queue a gateway request sample. Never blocks; False when it was dropped."""
        return self._submit(sample)

    def submit_prediction(self, record: PredictionRecord) -> bool:
        """Queue a prediction record. Never blocks; False when it was dropped."""
        return self._submit(record)

    def _submit(self, item: _Item) -> bool:
        with self._lock:
            self.stats.submitted += 1
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.stats.dropped += 1
                now = time.monotonic()
                if now - self._last_drop_log > 10:
                    self._last_drop_log = now
                    log.warning(
                        "metrics queue full (%d records): dropped a record (%d dropped so far)",
                        self._queue.maxsize,
                        self.stats.dropped,
                    )
                return False
            self._enqueued += 1
            return True

    # Lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="lakeworks-metrics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._drain()

    def flush(self, timeout: float = 30.0) -> None:
        """Return once everything submitted before this call is written (or failed)."""
        with self._lock:
            target = self._enqueued
        if not self.running:
            self._drain()
            return
        deadline = time.monotonic() + timeout
        with self._done:
            while self._processed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the metrics writer did not catch up in time")
                self._done.wait(left)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # The background thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.linger_seconds and self._queue.qsize() < self.batch_size:
                # Let a burst gather into one transaction instead of one per record.
                time.sleep(self.linger_seconds)
            self._write([first, *self._take(self.batch_size - 1)])

    def _take(self, limit: int) -> list[_Item]:
        items: list[_Item] = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _drain(self) -> None:
        while True:
            items = self._take(self.batch_size)
            if not items:
                return
            self._write(items)

    def _write(self, items: list[_Item]) -> None:
        failed = 0
        with self._write_lock:
            try:
                with self.store.transaction() as uow:
                    for start in range(0, len(items), self.chunk_size):
                        predictions, samples = split(items[start : start + self.chunk_size])
                        uow.model_metrics.add_predictions(predictions)
                        uow.model_metrics.add_requests(samples)
                        time.sleep(0)  # let the event loop take the interpreter lock
            except Exception as exc:
                # One bad record (a duplicate uuid, an oversized value) must not lose the
                # others: write them one by one.
                log.warning("metrics batch of %d failed (%s); writing one by one", len(items), exc)
                failed = self._write_each(*split(items))
        with self._done:
            self.stats.batches += 1
            self.stats.failed += failed
            self.stats.written += len(items) - failed
            self._processed += len(items)
            self._done.notify_all()

    def _write_each(self, predictions: list[PredictionRecord], samples: list[RequestSample]) -> int:
        failed = 0
        for record in predictions:
            try:
                with self.store.transaction() as uow:
                    uow.model_metrics.add_predictions([record])
            except (LakeworksError, Exception) as exc:
                failed += 1
                log.warning("metrics record %s not stored: %s", record.prediction_uuid, exc)
        if samples:
            try:
                with self.store.transaction() as uow:
                    uow.model_metrics.add_requests(samples)
            except Exception as exc:
                failed += len(samples)
                log.warning("%d request samples not stored: %s", len(samples), exc)
        return failed

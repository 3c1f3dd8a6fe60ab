"""The delivery thread leaves a burst of records unformatted until the burst pauses.

Driven on a simulated clock: the worker's `time` is replaced, and each of its sleeps lets a
scripted number of records arrive, so what is checked is the decision, not this machine's
speed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from flask_logstash.delivery import limits
from flask_logstash.delivery import worker as worker_module
from flask_logstash.delivery.worker import DeliveryWorker

SLICE = limits.LINGER_SLICE


class SimulatedTime:
    """Stands in for the `time` module inside worker.py: sleeping advances the clock and lets
    the records the script names for that slice arrive."""

    def __init__(self, arrivals: Callable[[int], int], worker: DeliveryWorker) -> None:
        self.now = self.start = 1_000_000.0
        self.slices = 0
        self._arrivals = arrivals
        self._worker = worker
        self.arrived_at: dict[str, float] = {}

    def time(self) -> float:
        return self.now

    monotonic = perf_counter = time

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slices += 1
        self.arrive(self._arrivals(self.slices))

    def arrive(self, count: int, age: float = 0.0) -> None:
        for _ in range(count):
            number = len(self.arrived_at)
            record = logging.LogRecord("burst", logging.INFO, __file__, 1, f"r{number}", None,
                                       None)
            record.created = self.now - age
            self.arrived_at[record.msg] = self.now
            self._worker.enqueue(record)


@pytest.fixture
def run_round(monkeypatch):
    """One gather round of a fresh worker: `first` records are queued when it starts, then
    `arrivals(n)` more arrive during its n-th sleep. Returns the batch, the time each record
    was formatted, and the clock."""

    def run(first: int, arrivals: Callable[[int], int], first_age: float = 0.0,
            stopping: bool = False, stop_signal: bool = False,
            alter_first: Callable[[logging.LogRecord], logging.LogRecord] | None = None):
        formatted_at: dict[str, float] = {}

        def format_record(record: logging.LogRecord) -> bytes:
            formatted_at[record.msg] = clock.now
            return f"{record.msg}\n".encode()

        worker = DeliveryWorker(transport=None, format_record=format_record,  # type: ignore[arg-type]
                                make_buffer=None)  # type: ignore[arg-type]
        clock = SimulatedTime(arrivals, worker)
        monkeypatch.setattr(worker_module, "time", clock)
        if stop_signal:
            worker._records.put(None)  # what stop() puts in the queue
        clock.arrive(first, age=first_age)
        if alter_first is not None:
            head = worker._records.get_nowait()
            rest = [worker._records.get_nowait() for _ in range(worker._records.qsize())]
            for queued in (alter_first(head), *rest):
                worker._records.put(queued)
        clock.start = clock.now
        if stopping:
            worker._stopping.set()
        batch = worker._take_batch()
        return [line.decode().strip() for line in batch], formatted_at, clock, worker

    return run


def _per_slice(rate_per_second: float) -> int:
    return round(rate_per_second * SLICE)


def test_a_burst_is_formatted_after_it_pauses_and_in_order(run_round):
    burst = _per_slice(3 * limits.BURST_RATE)  # a logging loop
    batch, formatted_at, clock, _ = run_round(burst, lambda n: burst if n <= 2 else 0)

    assert batch == [f"r{i}" for i in range(3 * burst)]
    last_arrival = max(clock.arrived_at.values())
    assert min(formatted_at.values()) > last_arrival, "formatting took the GIL mid-burst"


def test_a_steady_stream_is_formatted_as_it_arrives(run_round):
    steady = _per_slice(limits.BURST_RATE / 10)  # a busy web worker
    assert steady >= 1
    batch, formatted_at, clock, _ = run_round(1, lambda n: steady)

    assert batch == [f"r{i}" for i in range(len(batch))]
    assert len(batch) > steady * 5
    waits = [formatted_at[name] - clock.arrived_at[name] for name in batch]
    assert max(waits) <= SLICE * 1.01


def test_a_burst_that_never_pauses_is_formatted_when_the_window_ends(run_round):
    burst = _per_slice(2 * limits.BURST_RATE)
    batch, formatted_at, clock, worker = run_round(1, lambda n: burst)

    assert batch == [f"r{i}" for i in range(len(batch))]
    assert len(batch) == min(len(clock.arrived_at), limits.BATCH_SIZE)
    assert worker._records.qsize() == len(clock.arrived_at) - len(batch)
    window_end = clock.arrived_at["r0"] + limits.BATCH_LINGER
    assert min(formatted_at[name] for name in batch[1:]) >= window_end - SLICE


def test_a_backlog_past_the_cap_is_formatted_however_fast_it_grows(run_round, monkeypatch):
    monkeypatch.setattr(limits, "MAX_DEFERRED_RECORDS", 500)
    burst = _per_slice(3 * limits.BURST_RATE)
    batch, formatted_at, clock, _ = run_round(1, lambda n: burst)

    # The worker keeps up once the queue reaches the cap, long before the window ends.
    queued_after_r0 = [at for name, at in formatted_at.items() if name != "r0"]
    assert queued_after_r0
    assert min(queued_after_r0) < clock.arrived_at["r0"] + limits.BATCH_LINGER / 2
    assert batch == [f"r{i}" for i in range(len(batch))]


def test_records_made_long_ago_and_queued_together_are_not_a_burst(run_round):
    # Records handed over late (re-logged from elsewhere, or queued behind a slow send) say
    # nothing about the callers' pace now: the time since the first was made bounds the rate.
    backlog = limits.BURST_RECORDS * 3
    batch, formatted_at, clock, _ = run_round(backlog, lambda n: 0, first_age=10.0)

    assert batch == [f"r{i}" for i in range(backlog)]
    assert set(formatted_at.values()) == {clock.start}


def test_a_stopping_worker_formats_at_once_whatever_the_pace(run_round):
    burst = _per_slice(3 * limits.BURST_RATE)
    batch, formatted_at, clock, _ = run_round(burst, lambda n: burst, stopping=True)

    assert batch == [f"r{i}" for i in range(burst)]
    assert clock.slices == 0
    assert set(formatted_at.values()) == {clock.start}


@pytest.mark.parametrize("created", [None, "yesterday", float("nan"), float("inf"), 10 ** 400,
                                     -(2 ** 1100), "missing"])
def test_a_record_with_a_strange_creation_time_is_still_formatted(run_round, created):
    # A filter may replace `created`; the burst check must not fail the round, which would
    # lose the records it had already taken from the queue.
    def replace_created(record: logging.LogRecord) -> logging.LogRecord:
        if created == "missing":
            del record.created
        else:
            record.created = created
        return record

    queued = limits.BURST_RECORDS * 2  # enough for the rate to be worked out
    batch, _, _, _ = run_round(queued, lambda n: 0, alter_first=replace_created)
    assert batch == [f"r{i}" for i in range(queued)]


def test_the_stop_signal_alone_makes_an_empty_batch(run_round):
    batch, _, _, _ = run_round(0, lambda n: 0, stopping=True, stop_signal=True)
    assert batch == []

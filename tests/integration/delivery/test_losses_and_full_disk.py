"""Every event the delivery layer gives up on is counted, said on stderr, and reported to
Logstash; a full disk degrades to memory and delivery goes on."""

import contextlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from flask_logstash.delivery import limits
from flask_logstash.delivery.losses import REPORT_ACTION
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings
from tests.integration.delivery.conftest import hold_formatting
from tests.support.ndjson_listener import NdjsonListener


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reports(events):
    return [e for e in events if e.get("event", {}).get("action") == REPORT_ACTION]


def messages(events):
    return {e["message"] for e in events if e.get("event", {}).get("action") != REPORT_ACTION}


@pytest.fixture
def ecs_logger(logger):
    formatter = EcsEventFormatter(LoggingSettings())
    return lambda port, buffer_dir=None, **kw: logger(port, buffer_dir, formatter=formatter, **kw)


def test_queue_overflow_is_reported_on_stderr_and_to_logstash(ecs_logger, monkeypatch, capfd):
    monkeypatch.setattr(limits, "MAX_QUEUED_RECORDS", 10)
    with NdjsonListener() as listener:
        log, handler = ecs_logger(listener.port)
        worker = handler.worker
        gate = hold_formatting(worker, 10)
        for i in range(100):
            log.info(f"q-{i}")
        dropped = worker.dropped
        assert dropped >= 80
        gate.set()
        events = listener.wait_for(lambda evs: bool(reports(evs)), timeout=10)
    (report,) = reports(events)
    assert report["flask"]["extra"]["lost_events"] == {"queue_full": dropped}
    assert report["log"]["level"] == "warning"
    assert f"lost {dropped} log events" in capfd.readouterr().err
    assert len(messages(events)) == 100 - dropped


def lost(events, cause):
    return sum(r["flask"]["extra"]["lost_events"].get(cause, 0) for r in reports(events))


def test_memory_cap_drops_the_oldest_and_says_how_many(ecs_logger, monkeypatch, capfd):
    monkeypatch.setattr(limits, "MEMORY_BUFFER_MAX_EVENTS", 50)
    monkeypatch.setattr(limits, "LOSS_REPORT_INTERVAL", 0.2)
    port = free_port()
    log, handler = ecs_logger(port)  # Logstash down: events wait in memory
    for i in range(200):
        log.info(f"m-{i}")
    ledger = handler.worker.losses
    deadline = time.monotonic() + 10
    while ledger.total["memory_cap"] < 150:
        assert time.monotonic() < deadline, ledger.total
        time.sleep(0.05)
    with NdjsonListener(port=port) as listener:
        # Reports are events too (they can be dropped, and are then counted): wait until
        # the reports that arrived account for every drop.
        events = listener.wait_for(
            lambda evs: lost(evs, "memory_cap") == ledger.total["memory_cap"], timeout=15)
    kept = messages(events)
    first_kept = min(int(m.split("-")[1]) for m in kept)
    assert kept == {f"m-{i}" for i in range(first_kept, 200)}  # the newest, oldest dropped
    assert 200 - len(kept) <= ledger.total["memory_cap"]
    assert "log events since the last report (memory_cap=" in capfd.readouterr().err


def test_disk_cap_evicts_the_oldest_and_reports_it(ecs_logger, tmp_path, capfd):
    port = free_port()
    log, handler = ecs_logger(port, str(tmp_path), buffer_max_bytes=200_000)
    for burst in range(10):  # separate bursts: separate rows, so eviction is per row
        for i in range(100):
            log.info(f"d-{burst}-{i}-" + "z" * 400)
        time.sleep(limits.BATCH_LINGER * 3)
    deadline = time.monotonic() + 10
    while handler.worker.pending() > 0 and handler.worker._records.qsize():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with NdjsonListener(port=port) as listener:
        events = listener.wait_for(lambda evs: bool(reports(evs)), timeout=15)
        time.sleep(0.5)
        events = list(listener.events)
    reported = sum(r["flask"]["extra"]["lost_events"]["disk_cap"] for r in reports(events))
    kept = messages(events)
    # About 110 KB per burst and a 200 KB cap: the newest burst is what fits.
    assert {m.split("-")[1] for m in kept} == {"9"}
    assert len(kept) == 100
    # Evicted: the nine older bursts (and any report events among them); reports are
    # rate-limited, so what the last one has not said yet is still counted in the ledger.
    total = handler.worker.losses.total["disk_cap"]
    assert total >= 900
    assert 0 < reported <= total
    assert "log events since the last report (disk_cap=" in capfd.readouterr().err


def mount_small_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk needs a size-limited tmpfs: run as root with mount(8)")
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                             "tmpfs", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


def test_full_disk_falls_back_to_memory_and_delivery_goes_on(
    ecs_logger, tmp_path, capfd
):
    disk = tmp_path / "small-disk"
    mount_small_tmpfs(disk, "1m")
    try:
        port = free_port()
        log, handler = ecs_logger(port, str(disk))  # Logstash down: everything buffers
        sent = [f"full-{i}-" + "f" * 500 for i in range(6000)]  # ~3.5 MB > 1 MiB disk
        for i, message in enumerate(sent):
            log.info(message)
            if i % 500 == 499:
                time.sleep(limits.BATCH_LINGER * 2)
        deadline = time.monotonic() + 20
        while handler.worker._records.qsize():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert handler.worker.is_alive()
        assert "cannot write the durable buffer" in capfd.readouterr().err
        with NdjsonListener(port=port) as listener:
            later = [f"later-{i}" for i in range(100)]
            for message in later:
                log.info(message)
            events = listener.wait_for(
                lambda evs: set(sent + later) <= messages(evs), timeout=60)
        assert handler.worker.is_alive()
        assert set(sent + later) <= messages(events)
    finally:
        logging.shutdown  # noqa: B018 - handlers are closed by the logger fixture
        with contextlib.suppress(OSError):
            subprocess.run(["umount", "-l", str(disk)], check=False)


def test_an_error_in_one_round_is_reported_and_delivery_goes_on(ecs_logger, tmp_path, capfd):
    with NdjsonListener() as listener:
        log, handler = ecs_logger(listener.port, str(tmp_path))
        worker = handler.worker
        buffer = worker._buffer
        original = buffer.add_events
        failures = []

        def fail_once(texts):
            if not failures:
                failures.append(len(texts))
                raise RuntimeError("a bug in one batch")
            original(texts)

        buffer.add_events = fail_once
        log.info("first")
        deadline = time.monotonic() + 10
        while not failures:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        later = [f"later-{i}" for i in range(50)]
        for message in later:
            log.info(message)
        events = listener.wait_for(lambda evs: set(later) <= messages(evs), timeout=15)
    assert worker.is_alive()
    assert set(later) <= messages(events)
    assert "delivery round failed, going on: RuntimeError('a bug in one batch')" in (
        capfd.readouterr().err)

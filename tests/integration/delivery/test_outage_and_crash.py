"""Delivery guarantees with a real TCP listener: outages, black holes, crashes."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from flask_logstash.delivery import limits
from tests.conftest import REPO_ROOT
from tests.integration.delivery.conftest import hold_formatting
from tests.support.ndjson_listener import NdjsonListener


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Emitting never waits for the network, so a call that has not returned after this long is
# stuck behind a send (a black hole would hold it forever, an outage a connect timeout per
# call). Generous on purpose: it detects blocking, it does not measure speed.
STUCK_AFTER = 30.0


def emit_in_thread(log, messages, timeout=STUCK_AFTER):
    """Emit from another thread; True when every call returned within `timeout` seconds."""
    worker = threading.Thread(target=lambda: [log.info(m) for m in messages])
    worker.start()
    worker.join(timeout)
    return not worker.is_alive()


def ids_received(listener):
    return Counter(e["event"]["id"] for e in listener.events)


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
def test_events_survive_logstash_outage_and_arrive_exactly_once(logger, tmp_path, durable):
    port = free_port()
    listener = NdjsonListener(port=port)  # not started: Logstash is down
    log, _ = logger(port, str(tmp_path) if durable else None)
    down = [f"down-{i}" for i in range(500)]
    # A connect timeout per call would be 2,500 s; enqueueing must not wait for any.
    assert emit_in_thread(log, down), "emit blocked while Logstash was down"
    listener.start()
    try:
        up = [f"up-{i}" for i in range(100)]
        assert emit_in_thread(log, up)
        listener.wait_for(lambda evs: len(evs) >= 600, timeout=15)
        time.sleep(0.3)  # would reveal duplicates sent after the last expected event
        counts = ids_received(listener)
        assert set(counts) == set(down + up)
        assert max(counts.values()) == 1
    finally:
        listener.stop()


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
def test_one_connection_serves_many_batches_and_a_restart_is_noticed(
    logger, tmp_path, durable, capfd
):
    port = free_port()
    first = NdjsonListener(port=port).start()
    log, _ = logger(port, str(tmp_path) if durable else None)
    sent: list[str] = []
    for batch in range(4):  # each batch after the linger window has closed
        ids = [f"b{batch}-{i}" for i in range(50)]
        sent += ids
        assert emit_in_thread(log, ids)
        first.wait_for_count(len(sent), timeout=10)
        time.sleep(limits.BATCH_LINGER * 2)
    assert first.accepted == 1, "the connection should be kept between batches"
    first.stop()  # Logstash restarts: the kept connection is closed under the sender
    second = NdjsonListener(port=port).start()
    try:
        after = [f"after-{i}" for i in range(100)]
        assert emit_in_thread(log, after)
        second.wait_for_count(len(after), timeout=10)
        time.sleep(0.3)  # would reveal duplicates
        counts = ids_received(first) + ids_received(second)
        assert set(counts) == set(sent + after)
        assert max(counts.values()) == 1
        # The closed connection was seen before writing to it, not learnt from a failed send.
        assert "unreachable" not in capfd.readouterr().err
    finally:
        second.stop()


def test_black_holed_logstash_never_blocks_the_caller(logger):
    with NdjsonListener() as listener:
        listener.blackhole = True
        log, handler = logger(listener.port)
        big = [f"bh-{i}-" + "x" * 200 for i in range(20_000)]  # > socket buffers
        assert emit_in_thread(log, big), "emit blocked on a black-holed Logstash"
        assert handler.worker.is_alive()


def test_hand_off_queue_is_bounded(logger, monkeypatch):
    monkeypatch.setattr(limits, "MAX_QUEUED_RECORDS", 10)
    log, handler = logger(free_port())
    worker = handler.worker
    gate = hold_formatting(worker, 5)
    for i in range(100):
        log.info(f"q-{i}")
    assert worker.dropped >= 80
    gate.set()


def run_buffered_process(port, directory, count, tag):
    env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT / 'app'}:{REPO_ROOT}")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.buffered_logger_process",
         str(port), str(directory), str(count), tag],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )


def test_buffered_events_survive_sigkill_and_are_sent_by_the_next_process(tmp_path):
    port = free_port()
    first = run_buffered_process(port, tmp_path, 300, "crash")
    try:
        assert first.stdout.readline().strip() == "BUFFERED"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert list(tmp_path.glob("logstash-buffer-*.sqlite")), "buffer file must remain"
        with NdjsonListener(port=port) as listener:
            second = run_buffered_process(port, tmp_path, 0, "restart")
            assert second.stdout.readline().strip() == "SENT"
            assert second.wait(10) == 0
            listener.wait_for_count(300, timeout=10)
            counts = ids_received(listener)
            assert set(counts) == {f"crash-{i}" for i in range(300)}
            assert max(counts.values()) == 1
        assert not list(tmp_path.glob("logstash-buffer-*.sqlite")), "drained buffers are removed"
    finally:
        first.kill()


def test_two_live_processes_never_share_a_buffer_file(tmp_path):
    port = free_port()
    procs = [run_buffered_process(port, tmp_path, 5, f"p{n}") for n in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "BUFFERED"
        files = sorted(Path(tmp_path).glob("logstash-buffer-*.sqlite"))
        assert len(files) == 2
        pids = {f.name.split("-")[2] for f in files}
        assert pids == {str(p.pid) for p in procs}
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(5)


def test_buffer_files_are_private_to_the_service_user(tmp_path):
    port = free_port()  # Logstash down: the events stay in the file, with its -wal beside it
    proc = run_buffered_process(port, tmp_path, 50, "perm")
    try:
        assert proc.stdout.readline().strip() == "BUFFERED"
        files = list(tmp_path.glob("logstash-buffer-*"))
        assert any(f.name.endswith("-wal") for f in files)
        modes = {f.name: oct(f.stat().st_mode & 0o777) for f in files}
        assert set(modes.values()) == {"0o600"}, modes
    finally:
        proc.kill()
        proc.wait(5)


def buffered_messages(directory):
    """Messages of the events held in every buffer file left in `directory`."""
    import json
    import sqlite3

    ids = Counter()
    for path in Path(directory).glob("logstash-buffer-*.sqlite"):
        db = sqlite3.connect(path)
        try:
            for (lines,) in db.execute("SELECT lines FROM batch"):
                ids.update(json.loads(line)["message"] for line in lines.splitlines())
        finally:
            db.close()
    return ids


def test_sigterm_with_a_black_holed_logstash_keeps_every_event_on_disk(tmp_path):
    count = 40_000  # ~30 MB: far more than the socket buffers take
    with NdjsonListener() as listener:
        listener.blackhole = True
        env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT / 'app'}:{REPO_ROOT}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.buffered_logger_process",
             str(listener.port), str(tmp_path), str(count), "term", "term"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout.readline().strip() == "LOGGED"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            proc.kill()
        on_disk = buffered_messages(tmp_path)
        # What the black hole's kernel took (and acknowledged) is Logstash's now: read it.
        expected = {f"term-{i}" for i in range(count)}
        listener.blackhole = False
        with contextlib.suppress(TimeoutError):
            listener.wait_for(lambda evs: expected <= set(on_disk) | {
                e["message"] for e in evs}, timeout=20)
        received = {e["message"] for e in listener.events}
    missing = expected - set(on_disk) - set(received)
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:3]}"


def test_a_batch_written_into_a_connection_the_peer_closed_is_sent_again(
    logger, monkeypatch
):
    # Force the race the hang-up check can lose: the peer closes, and the next batch is
    # written into the dead connection anyway. Its reset must fail the batch, not count it
    # as delivered.
    from flask_logstash.delivery.transport import BatchTcpTransport

    monkeypatch.setattr(BatchTcpTransport, "_peer_gone", lambda self: False)
    port = free_port()
    first = NdjsonListener(port=port).start()
    log, _ = logger(port)
    before = [f"before-{i}" for i in range(20)]
    assert emit_in_thread(log, before)
    first.wait_for_count(len(before), timeout=10)
    time.sleep(limits.BATCH_LINGER * 2)
    first.stop()
    with NdjsonListener(port=port) as second:
        after = [f"after-{i}" for i in range(20)]
        assert emit_in_thread(log, after)
        second.wait_for_count(len(after), timeout=15)
        time.sleep(0.3)  # would reveal duplicates
        assert ids_received(first) + ids_received(second) == Counter(before + after)

"""What counts as delivered, against peers that stop reading, reset, or read slowly."""

import time
from collections import Counter

import pytest
from logstash_async.constants import constants

from flask_logstash.delivery import limits
from tests.integration.delivery.peers import SlowReader, StallingPeer
from tests.support.ndjson_listener import NdjsonListener


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def ids_received(listener):
    return Counter(e["event"]["id"] for e in listener.events)


def log_padded(log, tag, count, size):
    """Logs `count` messages of about `size` characters; returns them (their event ids)."""
    sent = [f"{tag}-{i}-" + "p" * size for i in range(count)]
    for message in sent:
        log.info(message)
    return sent


@pytest.fixture
def patient_sender(monkeypatch):
    # A peer that takes nothing is given up on only after a minute here, so a batch can
    # arrive in this test's time only if the reset itself is noticed.
    monkeypatch.setattr(constants, "SOCKET_CLOSE_WAIT_TIMEOUT", 60.0)


def test_unread_batch_is_not_delivered_until_acknowledged_and_survives_a_reset(
    logger, tmp_path, patient_sender, capfd
):
    peer = StallingPeer().start()
    try:
        log, handler = logger(peer.port, str(tmp_path))
        sent = log_padded(log, "stalled", 100, 300)  # ~30 KB: over the window
        wait_until(lambda: peer.unread_bytes() > 0, 10, "bytes at the stalled peer")
        time.sleep(limits.BATCH_LINGER * 4)  # the sender is now waiting for the ack
        # The peer's kernel holds part of the batch, unread; the rest is unacknowledged.
        assert handler.worker.sent == 0
        assert handler.worker.pending() == len(sent)
        peer.reset_stalled()  # what it held is gone: only a resend can deliver it
        peer.wait_for(lambda evs: set(sent) <= {e["event"]["id"] for e in evs}, timeout=30)
        counts = ids_received(peer)
        assert set(counts) == set(sent)
        assert max(counts.values()) == 1  # the reset connection delivered nothing
        assert "Connection reset" in capfd.readouterr().err
    finally:
        peer.stop()


def test_a_slow_link_that_keeps_reading_gets_each_batch_once(logger, monkeypatch):
    # No progress for a second means "stuck"; the link below needs several seconds per
    # batch but never stops taking bytes.
    monkeypatch.setattr(constants, "SOCKET_CLOSE_WAIT_TIMEOUT", 1.0)
    peer = SlowReader().start()
    try:
        log, _ = logger(peer.port)
        sent = log_padded(log, "slow", 400, 4000)  # ~1.6 MB
        peer.wait_for(lambda evs: set(sent) <= {e["event"]["id"] for e in evs}, timeout=60)
        counts = ids_received(peer)
        assert set(counts) == set(sent)
        assert max(counts.values()) == 1
        assert peer.bad_lines == []
    finally:
        peer.stop()


def test_a_stop_during_a_send_says_nothing_of_an_outage_and_loses_nothing(
    logger, tmp_path, capfd
):
    # A graceful stop (a gunicorn worker recycled) cuts the send in flight and sends again
    # at once: our own cut is not Logstash being unreachable, and an operator alerting on
    # that line would be paged by every restart.
    peer = SlowReader().start()
    try:
        log, handler = logger(peer.port, str(tmp_path))
        sent = log_padded(log, "stop", 150, 4000)  # ~600 KB: over a second
        peer.wait_for(lambda evs: len(evs) > 0, timeout=10)
        worker = handler.worker
        assert worker.sent == 0, "the batch should still be in flight"
        handler.close(timeout=30)
        assert not worker.is_alive()
        assert worker.sent == len(sent)  # the cut batch was sent again, in full, at once
        peer.wait_for(lambda evs: set(sent) <= {e["event"]["id"] for e in evs}, timeout=10)
        err = capfd.readouterr().err
        assert "unreachable" not in err
        assert "delivery is stopping" not in err
    finally:
        peer.stop()


def test_a_stop_while_logstash_takes_nothing_still_says_it_is_unreachable(
    logger, tmp_path, monkeypatch, capfd
):
    # The other side of the test above: the stop's own last send finds the outage and says
    # so, and what it could not send stays on disk for the next process.
    monkeypatch.setattr(constants, "SOCKET_CLOSE_WAIT_TIMEOUT", 1.0)
    with NdjsonListener() as peer:
        peer.blackhole = True
        log, handler = logger(peer.port, str(tmp_path))
        sent = log_padded(log, "held", 300, 4000)  # over the socket buffers
        wait_until(lambda: peer.accepted > 0, 10, "a connection to the black hole")
        worker = handler.worker
        handler.close(timeout=30)
        assert not worker.is_alive()
        assert worker.sent == 0
        assert "Logstash unreachable" in capfd.readouterr().err
    with NdjsonListener() as back:
        # The next process on the same buffer directory; its worker starts with its first
        # record.
        log_padded(logger(back.port, str(tmp_path))[0], "next", 1, 0)
        back.wait_for(lambda evs: set(sent) <= {e["event"]["id"] for e in evs}, timeout=30)

"""A stop cuts a send to a peer that stopped reading once its grace is over, over TLS too.

From a second engineer's read of 42e4850: with a small send buffer (SO_SNDBUF 16 KiB) a TLS
step fits only in part, OpenSSL wants to write again, and CPython's ssl module waited for the
socket's whole timeout (SOCKET_TIMEOUT, 5 s) inside that one send(), where no stop was
looked for: the send then failed with a timeout, seconds after the stop, not with the stop.
"""

import socket
import ssl
import threading
import time

import pytest
from logstash_async.constants import constants

from elk_provision.init_secrets import Node, ensure_certificates
from flask_logstash.delivery import limits  # noqa: F401  (sets SOCKET_TIMEOUT)
from flask_logstash.delivery.transport import BatchTcpTransport


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("certs")
    ensure_certificates(bundle, [Node("logstash")])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(bundle / "logstash" / "logstash.crt",
                            bundle / "logstash" / "logstash.key")
    return context


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_stop_cuts_a_send_to_a_peer_that_stopped_reading_within_the_grace(
    server_tls, monkeypatch, tls
):
    original_connect = socket.socket.connect

    def connect(sock, address):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        return original_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []

    def accept():  # handshakes, then never reads
        conn, _ = server.accept()
        held.append(server_tls.wrap_socket(conn, server_side=True) if tls else conn)

    threading.Thread(target=accept, daemon=True).start()
    transport = BatchTcpTransport(
        "127.0.0.1", server.getsockname()[1], ssl_enable=tls, ssl_verify=False,
        ssl_verify_flags=None, keyfile=None, certfile=None, ca_certs=None,
        timeout=constants.SOCKET_TIMEOUT,
    )
    outcome = {}

    def send():
        try:
            transport.send([b"x" * 4000 + b"\n"] * 250)  # ~1 MB: far past the buffers
        except OSError as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    sender = threading.Thread(target=send)
    try:
        sender.start()
        time.sleep(1.0)  # the buffers are full, the send waits
        aborted = time.monotonic()
        transport.abort(0.2)
        sender.join(10)
        # Cut by the stop, not by the 5 s timeout inside one TLS write.
        assert isinstance(outcome.get("error"), ConnectionAbortedError), outcome
        assert outcome["ended"] >= aborted
    finally:
        for conn in held:
            conn.close()
        server.close()

"""Get formatted events to Logstash without ever making a request wait for it.

Built on python-logstash-async, split along its own seams:
- `handler`: its AsynchronousLogstashHandler, whose `emit` only captures the record and
  enqueues it, so the request thread pays microseconds;
- `worker`: one delivery thread per process (the library's LogProcessingWorker role) that
  formats, redacts, serialises, buffers and sends. Records gather for a short linger window;
  each batch is one buffer write and one `sendall`;
- `buffer`: its Cache interface, in memory or one SQLite file per process under an exclusive
  `flock`; a starting process adopts files whose owner died, so nothing buffered is lost and
  no two live processes share a file;
- `transport`: its TcpTransport, with the connection kept between batches and a batch counted
  as sent only when the peer's kernel acknowledged every byte;
- `limits`: the tunables.
A slow, absent or black-holed Logstash only delays the worker (socket timeouts, back-off).
"""

from flask_logstash.delivery.handler import (
    BufferedLogstashHandler,
    build_logstash_handler,
    flush_and_close,
)

__all__ = ["BufferedLogstashHandler", "build_logstash_handler", "flush_and_close"]

"""Delivery tunables, module-level like python-logstash-async's own constants so an application
(or a test) can adjust them at start-up; every module reads them at call time."""

from logstash_async.constants import constants

BATCH_SIZE = 1000  # events per connection and per SQLite transaction
FLUSH_INTERVAL = 0.1  # longest idle wait of the worker (also bounds its shutdown latency)
BATCH_LINGER = 0.05  # seconds a batch may gather records before it is buffered and sent
LINGER_SLICE = 0.005  # how often the worker wakes while a batch gathers
RETRY_INITIAL = 0.25  # first back-off after a failed send, doubled up to RETRY_MAX
RETRY_MAX = 1.0  # keeps "drain soon after Logstash returns" true after a long outage
MAX_QUEUED_RECORDS = 50_000  # records between emit() and the worker: bounds memory
MEMORY_BUFFER_MAX_EVENTS = 200_000  # formatted events kept in memory mode while Logstash is away

# A send either completes within this many seconds or is retried later; a black-holed
# Logstash cannot hold the worker longer than this per attempt.
constants.SOCKET_TIMEOUT = 5.0
constants.SOCKET_CLOSE_WAIT_TIMEOUT = 5.0

# Long enough for one bounded send attempt (connect/send timeout + acknowledgement wait) to
# finish, so records that arrived meanwhile still reach the disk before the process exits.
SHUTDOWN_TIMEOUT = constants.SOCKET_TIMEOUT + constants.SOCKET_CLOSE_WAIT_TIMEOUT + 2
MAX_BATCH_BYTES = 1024 * 1024  # bytes per buffered row and per send: a batch crosses quickly
DISK_BUFFER_MAX_BYTES = 512 * 1024 * 1024  # default cap of one durable buffer file's events
LOSS_REPORT_INTERVAL = 10.0  # seconds between two loss reports (stderr line and event)

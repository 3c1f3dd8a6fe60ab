"""Delivery tunables, module-level like python-logstash-async's own constants so an application
(or a test) can adjust them at start-up; every module reads them at call time."""

from logstash_async.constants import constants

BATCH_SIZE = 1000  # events per connection and per SQLite transaction
FLUSH_INTERVAL = 0.1  # longest idle wait of the worker (also bounds its shutdown latency)
BATCH_LINGER = 0.05  # seconds a batch may gather records before it is buffered and sent
LINGER_SLICE = 0.005  # how often the worker wakes while a batch gathers
# Records arriving at least this fast (and at least BURST_RECORDS of them since the worker
# last looked) are a burst: formatted when it pauses, not while it lasts. A busy web
# worker logs far fewer (2,600 a second in bench/compare_variants.py); a loop logs more.
BURST_RATE = 20_000  # records per second
BURST_RECORDS = 100
MAX_DEFERRED_RECORDS = 5_000  # past this many queued, the worker formats whatever the rate
RETRY_INITIAL = 0.25  # first back-off after a failed send, doubled up to RETRY_MAX
RETRY_MAX = 1.0  # keeps "drain soon after Logstash returns" true after a long outage
MAX_QUEUED_RECORDS = 50_000  # records between emit() and the worker: bounds memory
MEMORY_BUFFER_MAX_EVENTS = 200_000  # formatted events kept in memory mode while Logstash is away

# A send either completes within this many seconds or is retried later; a black-holed
# Logstash cannot hold the worker longer than this per attempt.
constants.SOCKET_TIMEOUT = 5.0
constants.SOCKET_CLOSE_WAIT_TIMEOUT = 5.0

# A send under way when a stop begins may run this long before it is cut: a healthy one
# finishes (a cut one can leave Logstash part of a line); a stuck one must not keep what is
# still queued from reaching the disk.
STOP_SEND_GRACE = 1.0
# Long enough for the grace, then one bounded send attempt (connect/send timeout +
# acknowledgement wait) to finish, so records that arrived meanwhile still reach the disk
# before the process exits.
SHUTDOWN_TIMEOUT = (STOP_SEND_GRACE + constants.SOCKET_TIMEOUT
                    + constants.SOCKET_CLOSE_WAIT_TIMEOUT + 2)
MAX_BATCH_BYTES = 1024 * 1024  # bytes per buffered row and per send: a batch crosses quickly
DISK_BUFFER_MAX_BYTES = 512 * 1024 * 1024  # default cap of one durable buffer file's events
LOSS_REPORT_INTERVAL = 10.0  # seconds between two loss reports (stderr line and event)

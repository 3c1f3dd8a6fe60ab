"""How the delivery layer reports its own trouble."""

import sys


def warn(message: str) -> None:
    # Our own problems go to stderr: logging them would feed them back into this handler.
    print(f"flask_logstash.delivery: {message}", file=sys.stderr, flush=True)

"""gunicorn entry point: `gunicorn -c gunicorn.conf.py sample_service.wsgi:app`."""

from __future__ import annotations

import sys

from flask_logstash import ConfigError
from sample_service import create_app

try:
    app = create_app()
except ConfigError as exc:
    # A clear line and a distinct exit code beat a traceback for a bad environment variable.
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(3)

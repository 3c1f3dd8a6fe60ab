"""gunicorn entry point for the benchmark: the sample app with the logging variant named by
BENCH_VARIANT (bench/variants.py). Bench-only; the product's entry point is
sample_service.wsgi.

    BENCH_VARIANT=queue_file BENCH_LOG_FILE=/tmp/x.ndjson \
        gunicorn -c ../bench/gunicorn_bench.conf.py variants_wsgi:app   (cwd app/)
"""

from __future__ import annotations

import os

from variants import Sinks, create_variant_app

# Imported in each worker after fork (preload_app is off), so each worker builds its own.
VARIANT = os.environ.get("BENCH_VARIANT", "flask_logstash")
app, close = create_variant_app(VARIANT, Sinks.from_env(os.environ))

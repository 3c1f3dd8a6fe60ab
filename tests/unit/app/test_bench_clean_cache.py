"""bench/redaction_bench.py empties the redactor's clean-text cache for its "nothing
remembered" rows: if it stopped finding the cache (a rename), those rows would silently
measure a warm cache under a cold label. Found by a second engineer's read at 15a3fd6."""

import importlib.util
import sys
from pathlib import Path

from flask_logstash.redaction import Redactor

ROOT = Path(__file__).resolve().parents[3]


def _bench_module():
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("redaction_bench_under_test",
                                                      ROOT / "bench/redaction_bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


def test_the_bench_finds_the_cache_the_redactor_fills():
    clean_cache_of = _bench_module().clean_cache_of
    redactor = Redactor()
    cache = clean_cache_of(redactor)
    assert isinstance(cache, set)
    redactor.redact_text("GET /api/items 200")
    assert "GET /api/items 200" in cache
    cache.clear()  # what the bench does before a cold measurement
    assert "GET /api/items 200" not in redactor.known_clean


def test_a_redactor_without_the_cache_gives_none():
    assert _bench_module().clean_cache_of(object()) is None

"""The benchmark's logging variants (bench/variants.py) are wired as they claim: each one's
sink receives the sample's two events for `GET /api/items`, and logging off sends none. A
variant that silently logged less would win the benchmark by cheating; no timing here."""

import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest

from tests.support.ndjson_listener import NdjsonListener

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def variants():
    spec = importlib.util.spec_from_file_location("bench_variants", ROOT / "bench/variants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(ROOT / "bench"))  # its probes import as gunicorn imports them
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "bench"))
        del sys.modules[spec.name]
        sys.modules.pop("design_probes", None)


@pytest.fixture
def isolated_logging(monkeypatch):
    """The variant sets the sample's environment and the root logger; put both back."""
    for name in ("LOGSTASH_ENABLED", "LOG_LEVEL", "LOGSTASH_HOST", "LOGSTASH_PORT",
                 "LOG_BUFFER_DIR", "LOG_JSON_STDOUT"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def serve_one_listing(variants, variant, sinks):
    app, close = variants.create_variant_app(variant, sinks)
    try:
        response = app.test_client().get("/api/items")
        assert response.status_code == 200
    finally:
        close()


@pytest.mark.usefixtures("isolated_logging")
@pytest.mark.parametrize("variant", ["flask_logstash", "stock_async", "format_on_caller"])
def test_logstash_variants_deliver_both_events(variants, variant, tmp_path):
    with NdjsonListener() as listener:
        sinks = variants.Sinks(logstash_port=listener.port, buffer_dir=str(tmp_path))
        serve_one_listing(variants, variant, sinks)
        events = listener.wait_for_count(2, timeout=30)
    messages = sorted(e["message"] for e in events)
    assert len(events) == 2, messages
    assert messages[0].startswith("GET /api/items 200")
    assert messages[1] == "listed 2 items"
    assert not listener.bad_lines


@pytest.mark.usefixtures("isolated_logging")
@pytest.mark.parametrize("variant", ["ecs_stdout", "queue_file"])
def test_ecs_logging_variants_write_both_events(variants, variant, tmp_path):
    pytest.importorskip("ecs_logging", reason="ecs-logging is in the [bench] extras only")
    target = tmp_path / "out.ndjson"
    with target.open("a", encoding="utf-8") as stream:
        sinks = variants.Sinks(log_file=str(target), stream=stream)
        serve_one_listing(variants, variant, sinks)
    lines = target.read_text(encoding="utf-8").splitlines()
    messages = sorted(json.loads(line)["message"] for line in lines)
    assert len(messages) == 2, messages
    assert messages[0].startswith("GET /api/items 200")
    assert messages[1] == "listed 2 items"


@pytest.mark.usefixtures("isolated_logging")
def test_off_makes_no_records_and_sends_nothing(variants, tmp_path):
    with NdjsonListener() as listener:
        sinks = variants.Sinks(logstash_port=listener.port, buffer_dir=str(tmp_path))
        app, close = variants.create_variant_app("off", sinks)
        try:
            # Off means no record is even made, not records made and thrown away.
            assert not logging.getLogger("sample_service.api").isEnabledFor(logging.CRITICAL - 1)
            assert app.test_client().get("/api/items").status_code == 200
        finally:
            close()
        assert listener.accepted == 0
        assert not listener.raw


def test_an_unknown_variant_is_refused(variants):
    with pytest.raises(ValueError, match="unknown variant 'loud'"):
        variants.settings_env("loud", variants.Sinks())


@pytest.mark.usefixtures("isolated_logging")
@pytest.mark.parametrize("variant", ["capture_only", "handoff_only"])
def test_ladder_probes_capture_both_records_as_ours_does(variants, variant, monkeypatch):
    # A rung of the cost ladder that skipped the capture would make ours' request-thread
    # share look smaller than it is.
    import design_probes

    from flask_logstash.captured import CAPTURED

    captured = []
    real = design_probes.capture_fields

    def spy(record):
        captured.append(record)
        return real(record)

    monkeypatch.setattr(design_probes, "capture_fields", spy)
    serve_one_listing(variants, variant, variants.Sinks())
    messages = sorted(r.msg for r in captured)
    assert len(captured) == 2, messages
    assert messages[0].startswith("GET /api/items 200")  # frozen: formatted at the call
    assert messages[1] == "listed 2 items"
    assert all(r.args is None and CAPTURED in r.__dict__ for r in captured)
    assert all(r.request_context["http"]["request"]["id"] for r in captured)


@pytest.mark.usefixtures("isolated_logging")
def test_the_handoff_probe_puts_both_records_without_the_handler_lock(variants):
    # handoff_only stands for "ours minus what follows the put": it must put every record,
    # and, as ours does, skip logging.Handler's lock around emit.
    import queue

    import design_probes

    class CountingQueue:
        def __init__(self):
            self.put_records = []

        def put(self, record):
            self.put_records.append(record)

        def get_nowait(self):
            raise queue.Empty

    class WatchedLock:
        def __init__(self):
            self.taken = 0

        def acquire(self, *args):
            self.taken += 1
            return True

        def release(self):
            pass

    app, close = variants.create_variant_app("handoff_only", variants.Sinks())
    try:
        probe, = [h for h in logging.getLogger().handlers
                  if isinstance(h, design_probes.HandoffOnlyHandler)]
        probe.records, probe.lock = CountingQueue(), WatchedLock()
        assert app.test_client().get("/api/items").status_code == 200
        messages = sorted(r.msg for r in probe.records.put_records)
        assert len(messages) == 2, messages
        assert messages[1] == "listed 2 items"
        assert probe.lock.taken == 0
    finally:
        close()

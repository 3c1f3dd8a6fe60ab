"""The sample service under real gunicorn with several pre-forked workers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import REPO_ROOT
from tests.support.ndjson_listener import NdjsonListener

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture
def gunicorn_app(tmp_path):
    listener = NdjsonListener().start()
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT / "app"),
        PORT=str(port),
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="2",
        LOGSTASH_HOST="127.0.0.1",
        LOGSTASH_PORT=str(listener.port),
        LOG_BUFFER_DIR=str(tmp_path / "buffer"),
        SERVICE_NAME="gunicorn-test",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "sample_service.wsgi:app"],
        cwd=REPO_ROOT / "app", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield port, listener, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        listener.stop()


def test_every_event_from_every_worker_arrives(gunicorn_app):
    port, listener, _proc = gunicorn_app

    def ready_pids(events):
        return {e["process"]["pid"] for e in events
                if e["log"]["logger"] == "sample_service.lifecycle"}

    # Each of the 3 workers logs once at start: all three must arrive.
    listener.wait_for(lambda evs: len(ready_pids(evs)) == 3, timeout=20)
    ids = [f"gw-{i}" for i in range(120)]

    def call(rid):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/items",
                                     headers={"X-Request-ID": rid})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, ids)) == {200}

    def access_ids(events):
        return Counter(e["http"]["request"]["id"] for e in events
                       if e["event"]["dataset"] == "flask.access")

    listener.wait_for(lambda evs: set(ids) <= set(access_ids(evs)), timeout=20)
    counts = access_ids(listener.events)
    assert all(counts[rid] == 1 for rid in ids)
    served_by = {e["process"]["pid"] for e in listener.events
                 if e.get("http", {}).get("request", {}).get("id") in set(ids)}
    assert served_by <= ready_pids(listener.events)


def test_graceful_stop_delivers_what_workers_buffered(gunicorn_app, tmp_path):
    port, listener, proc = gunicorn_app
    listener.stop()  # Logstash goes away; workers must buffer
    for i in range(30):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                     headers={"X-Request-ID": f"gs-{i}"})
        urllib.request.urlopen(req, timeout=5).close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    buffers = list((tmp_path / "buffer").glob("logstash-buffer-*.sqlite"))
    assert buffers, "undelivered events must stay on disk after a graceful stop"
    # The next start (here: one plain process) adopts and delivers them.
    with NdjsonListener() as back:
        env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT / 'app'}:{REPO_ROOT}")
        out = subprocess.run(
            [sys.executable, "-m", "tests.support.buffered_logger_process",
             str(back.port), str(tmp_path / "buffer"), "0", "x"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=30,
        )
        assert out.stdout.strip() == "SENT", out.stderr
        events = back.wait_for(lambda evs: {f"gs-{i}" for i in range(30)}
                               <= {e.get("http", {}).get("request", {}).get("id") for e in evs})
        ids = [e["http"]["request"]["id"] for e in events if e.get("http")]
        assert sorted(i for i in ids if i.startswith("gs-")) == sorted(f"gs-{i}" for i in range(30))

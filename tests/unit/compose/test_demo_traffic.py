"""The `traffic` service stays up whatever DEMO_TRAFFIC_RPS says.

It runs under `restart: unless-stopped`: a process that exits (even 0) is restarted forever,
never gets healthy, and `up --wait` never returns. With 0 ("turns it off") it idles until
stopped.
"""

import os
import signal
import subprocess
import sys

from tests.conftest import REPO_ROOT


def start(rps):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "app"), "DEMO_TRAFFIC_RPS": rps,
           "DEMO_BASE_URL": "http://127.0.0.1:9"}  # discard port: nothing is sent anyway
    return subprocess.Popen([sys.executable, "-m", "demo_traffic"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_zero_rps_idles_until_sigterm_then_exits_cleanly():
    proc = start("0")
    try:
        first = proc.stdout.readline()  # printed once the SIGTERM handler is in place
        assert "disabled" in first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # Exiting on its own before the signal would print no "stopped" line.
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_the_compose_service_uses_the_variable_and_stays_up(stack):
    traffic = stack["services"]["traffic"]
    assert traffic["restart"] == "unless-stopped"
    assert traffic["environment"]["DEMO_TRAFFIC_RPS"] == "5"

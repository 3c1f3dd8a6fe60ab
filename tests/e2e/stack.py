"""The real compose stack as the end-to-end tests see it: files, name, endpoints, secrets.

Everything here runs only where tests/e2e/conftest.py found a Docker engine; nothing touches
Docker at import time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import REPO_ROOT
from tests.e2e.compose_project import ComposeProject, Deadlines

T = TypeVar("T")
E2E_OVERRIDE = REPO_ROOT / "tests/e2e/compose.e2e.yml"
OVERLAYS = {"cluster": REPO_ROOT / "docker-compose.cluster.yml"}
# Published container ports the tests talk to (compose.e2e.yml makes their host ports
# ephemeral).
ENDPOINTS = {"elasticsearch": 9200, "kibana": 5601, "app": 8000}
DEADLINES = Deadlines()
# pytest-timeout budget of every test that uses the stack: whichever test runs first also
# pays for the session's start, which has its own deadlines above.
TEST_TIMEOUT = int(DEADLINES.start_total) + 600


def compose_files(overlay: str | None) -> list[Path]:
    """docker-compose.yml, the optional overlay (ELK_E2E_OVERLAY=cluster), then the E2E
    override last so its ports win."""
    files = [REPO_ROOT / "docker-compose.yml"]
    if overlay:
        if overlay not in OVERLAYS:
            raise ValueError(f"ELK_E2E_OVERLAY={overlay!r}: known overlays are {sorted(OVERLAYS)}")
        files.append(OVERLAYS[overlay])
    return [*files, E2E_OVERRIDE]


def project_name(root: Path = REPO_ROOT, overlay: str | None = None) -> str:
    """Stable per checkout (a rerun removes what a killed run left), distinct from the
    directory-named project of a developer's own `docker compose up`."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    return f"elk-e2e-{overlay + '-' if overlay else ''}{digest}"


def poll(check: Callable[[], T | None], timeout: float, what: str, interval: float = 2.0, *,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `check` until it returns something truthy; at the deadline fail naming `what` and
    the last result or error. `check` runs at least once, and once more at the deadline."""
    deadline = clock() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # refused, 401 during setup, 404 before creation...
            last = exc
        else:
            if last:
                return last
        remaining = deadline - clock()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} "
                                 f"(last: {last!r})")
        sleep(min(interval, remaining))


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as Elasticsearch and Logstash write it (`Z`, up to nanoseconds) as an
    aware datetime; Python keeps microseconds, so extra digits are cut (order is kept)."""
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


_ES_SUMMARY = re.compile(r"^elasticsearch: (\d+) assets checked, (\d+) changed$", re.M)


def provisioning_counts(output: str) -> tuple[int, int]:
    """(checked, changed) from the last summary line `elk-provision elasticsearch` prints."""
    found = _ES_SUMMARY.findall(output)
    if not found:
        raise AssertionError(f"no provisioning summary in {output[-500:]!r}")
    checked, changed = found[-1]
    return int(checked), int(changed)


def raw_lines_script(host: str, port: int, lines: Sequence[str | bytes]) -> str:
    """A one-line Python program that sends `lines` as-is, newline-terminated, over TCP: text
    as UTF-8, bytes untouched (so a test can send what is not UTF-8)."""
    payload = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n"
                       for line in lines)
    encoded = base64.b64encode(payload).decode()
    return (f"import socket,base64;s=socket.create_connection(({host!r},{port}));"
            f"s.sendall(base64.b64decode({encoded!r}));s.close()")


# Runs the documented DLQ replay (`bash -c "<logstash/bin/dlq-replay>" dlq-replay`, docs/
# logstash.md) in the background of a one-off logstash container: $1 is the script's text,
# $2 how many events it must send on. Once the replay's own API (DLQ_REPLAY_API_PORT, as the
# script reads it) counts that many, the replay gets SIGTERM (Logstash shuts down and the
# input saves its position) and the count is printed. The loop is the deadline.
REPLAY_UNTIL = r"""
bash -c "$1" dlq-replay &
replay=$!
port=${DLQ_REPLAY_API_PORT:-9610}
out=0
for _ in $(seq 300); do
  if ! kill -0 "$replay" 2>/dev/null; then
    wait "$replay"; echo "replay exited early: $?"; exit 1
  fi
  out=$(curl -fsS "http://localhost:$port/_node/stats/events" 2>/dev/null \
        | grep -o '"out": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')
  [ "${out:-0}" -ge "$2" ] && break
  sleep 2
done
kill -TERM "$replay"
wait "$replay"
echo "replayed ${out:-0}"
"""
_REPLAYED = re.compile(r"^replayed (\d+)$", re.M)


def replayed_count(output: str) -> int:
    """How many events REPLAY_UNTIL saw the replay send on; fails with the output's tail when
    it did not get that far."""
    found = _REPLAYED.findall(output)
    if not found:
        raise AssertionError(f"the DLQ replay did not finish: {output[-3000:]!r}")
    return int(found[-1])


def project_for_environment(env: Mapping[str, str] = os.environ) -> ComposeProject:
    """The project the suite starts: ELK_E2E_OVERLAY=cluster adds the three-node overlay."""
    overlay = env.get("ELK_E2E_OVERLAY") or None
    return ComposeProject(name=project_name(overlay=overlay), files=compose_files(overlay),
                          workdir=REPO_ROOT, deadlines=DEADLINES)


class Stack:
    """A started project: endpoints through the mapped ports, secrets read the documented way."""

    def __init__(self, project: ComposeProject, model: Mapping[str, Any], workdir: Path) -> None:
        self.project = project
        self.model = model
        self.workdir = workdir
        self._secrets: dict[str, str] = {}

    def url(self, service: str, scheme: str = "http") -> str:
        host, port = self.project.port(service, ENDPOINTS[service])
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    def exec(self, service: str, *command: str) -> str:
        return self.project.check("exec", "-T", service, *command)

    def secret(self, name: str) -> str:
        # README's way: the setup image (root) reads the secrets volume.
        if name not in self._secrets:
            self._secrets[name] = self.project.check(
                "run", "--rm", "--no-deps", "-T", "--entrypoint", "cat", "setup",
                f"/run/elk-secrets/{name}").strip()
        return self._secrets[name]

    @cached_property
    def ca_file(self) -> Path:
        path = self.workdir / "ca.crt"
        path.write_text(self.exec("elasticsearch", "cat",
                                  "/usr/share/elasticsearch/config/certs/ca/ca.crt"))
        return path

    def es(self, user: str = "elastic", password: str | None = None) -> Any:
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.url("elasticsearch", "https"), ca_certs=str(self.ca_file),
                             basic_auth=(user, password or self.secret(f"{user}_password")),
                             request_timeout=30)

    def send_to_logstash(self, *lines: str | bytes) -> None:
        """Raw lines to Logstash's tcp input, from inside the network (the port is private)."""
        self.exec("app", "python", "-c", raw_lines_script("logstash", 5000, lines))

    def logstash_output_stats(self) -> dict[str, Any]:
        """The Elasticsearch output's counters from Logstash's monitoring API (port 9600,
        inside the container)."""
        body = json.loads(self.exec("logstash", "curl", "-fsS",
                                    "http://localhost:9600/_node/stats/pipelines/flask"))
        outputs = body["pipelines"]["flask"]["plugins"]["outputs"]
        (output,) = [o for o in outputs if o.get("id") == "data_streams"]
        return output

    def logs(self, service: str) -> str:
        done = self.project.cli("logs", "--no-color", service)
        return done.stdout + done.stderr

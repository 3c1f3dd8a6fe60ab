"""The real compose stack for the end-to-end tests: start, reach, read secrets, poll.

Everything here runs only where tests/e2e/conftest.py found a Docker engine and the compose
CLI; no testcontainers object is built at import time.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import REPO_ROOT

T = TypeVar("T")
FILES = ["docker-compose.yml", "tests/e2e/compose.e2e.yml"]
LONG_RUNNING = ("elasticsearch", "logstash", "kibana", "app", "traffic")


def poll(check: Callable[[], T | None], timeout: float, what: str, interval: float = 2.0) -> T:
    """Call `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def raw_lines_script(host: str, port: int, lines: tuple[str, ...] | list[str]) -> str:
    """A one-line Python program that sends `lines` as-is, newline-terminated, over TCP."""
    payload = json.dumps("".join(line + "\n" for line in lines))
    return (f"import socket,json;s=socket.create_connection(({host!r},{port}));"
            f"s.sendall(json.loads({payload!r}).encode());s.close()")


class Stack:
    def __init__(self) -> None:
        from testcontainers.compose import DockerCompose

        self.project = f"elk-e2e-{uuid.uuid4().hex[:8]}"
        os.environ["COMPOSE_PROJECT_NAME"] = self.project
        self.compose = DockerCompose(
            context=str(REPO_ROOT), compose_file_name=FILES, build=True, wait=True,
            env_file=[str(REPO_ROOT / ".env")],
        )
        self.workdir = Path(tempfile.mkdtemp(prefix="elk-e2e-"))

    def start(self) -> Stack:
        self.compose.start()
        self.ca_file = self.workdir / "ca.crt"
        self.ca_file.write_text(self.exec("elasticsearch", "cat",
                                          "/usr/share/elasticsearch/config/certs/ca/ca.crt"))
        return self

    def stop(self) -> None:
        self.compose.stop(down=True)

    def exec(self, service: str, *command: str) -> str:
        out, err, code = self.compose.exec_in_container(list(command), service)
        assert code == 0, f"{service}: {' '.join(command)} failed ({code}): {err}"
        return out

    def secret(self, name: str) -> str:
        return self.exec("kibana", "cat", f"/run/elk-secrets/{name}").strip()

    def compose_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "-p", self.project]
        for file in FILES:
            cmd += ["-f", file]
        return subprocess.run([*cmd, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=900)

    def es(self, user: str = "elastic", password: str | None = None) -> Any:
        from elasticsearch import Elasticsearch

        return Elasticsearch("https://localhost:9200", ca_certs=str(self.ca_file),
                             basic_auth=(user, password or self.secret(f"{user}_password")),
                             request_timeout=30)

    def send_to_logstash(self, *lines: str) -> None:
        """Raw lines to Logstash's tcp input, from inside the network (the port is private)."""
        self.exec("app", "python", "-c", raw_lines_script("logstash", 5000, lines))

    def logs(self) -> str:
        out, err = self.compose.get_logs()
        return out + err

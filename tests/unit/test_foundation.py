"""The foundation's own promises: one pinned stack version, CI runs the README's command."""

import re

from tests.conftest import REPO_ROOT


def read_dotenv() -> dict[str, str]:
    values = {}
    for line in (REPO_ROOT / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_stack_version_is_an_exact_release():
    assert re.fullmatch(r"\d+\.\d+\.\d+", read_dotenv()["ELASTIC_VERSION"])


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    commands = [line for b in blocks for line in b.splitlines() if line.strip()]
    assert "scripts/run-tests" in commands
    ci = [
        line.strip()
        for line in (REPO_ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.strip().startswith(("#", "set ", "cd "))
    ]
    assert ci == ["exec scripts/run-tests"]


# Names that only look like secrets: the list of key *names* to redact, not a key.
NOT_SECRETS = {"LOG_REDACT_EXTRA_KEYS"}


def test_dotenv_holds_no_secret():
    for key in read_dotenv():
        if key not in NOT_SECRETS:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY", key), key

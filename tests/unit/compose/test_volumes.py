"""Every volume a non-root service writes is writable on a fresh start: checked on the rendered
model, and setup's entrypoint script run for real (sh, with stand-ins for chown, chmod, python).

Docker creates a fresh named volume owned by root where the image has no directory, so
Elastic's images (uid 1000) could not write /usr/share/elasticsearch/snapshots and the snapshot
repository's verification failed, stopping provision-es and everything after it.
"""

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.compose_cli import container_text, one_shot_jobs
from tests.unit.compose.conftest import rendered
from tests.unit.compose.runtime import (
    ELASTIC_IMAGES,
    effective_uid,
    script_of,
    setup_owner,
    writable_named_volumes,
)

PREPARE_ROOT = "/prepare"


def prepared_by_setup(model):
    setup = model["services"]["setup"]
    return {mount["source"]: mount["target"] for mount in setup.get("volumes", [])
            if mount["type"] == "volume" and mount["target"].startswith(PREPARE_ROOT + "/")
            and not mount.get("read_only")}


def test_every_volume_an_elastic_service_writes_is_prepared_by_setup(model):
    """Elastic's images run as uid 1000 and cannot write a fresh root-owned volume (the
    snapshot repository's verification fails). `setup`, already root, prepares each one."""
    prepared = prepared_by_setup(model)
    for name, service in model["services"].items():
        if not service.get("image", "").startswith(ELASTIC_IMAGES):
            continue
        assert effective_uid(service) == setup_owner(model)[0]
        for volume in writable_named_volumes(service):
            assert volume in prepared, f"{name} writes volume {volume}; setup does not prepare it"


def test_built_images_create_the_volume_paths_their_user_writes(model):
    """Our own images (app) create their volume's directory owned by their user; Docker copies
    that ownership onto a fresh volume."""
    for name, service in model["services"].items():
        if "build" not in service or name in one_shot_jobs(model):
            continue
        dockerfile = Path(service["build"]["context"], service["build"]["dockerfile"]).read_text()
        user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)[-1]
        for target in writable_named_volumes(service).values():
            assert re.search(rf"install -d -o {user} .*{re.escape(target)}\b", dockerfile), \
                f"{name}: the image does not create {target} for {user}"


def run_setup_entrypoint(tmp_path, model, failing_chown=False,
                         stand_ins=("chown", "chmod", "python")):
    """Run setup's entrypoint script with /prepare under tmp_path and stand-ins (for chown,
    chmod and python unless told otherwise) that record their arguments."""
    setup = model["services"]["setup"]
    entrypoint = setup.get("entrypoint") or []
    script = script_of(entrypoint)
    assert script, "setup has no entrypoint script that prepares volumes"
    root = tmp_path / "prepare"
    for target in prepared_by_setup(model).values():
        (root / target.removeprefix(PREPARE_ROOT + "/")).mkdir(parents=True)
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in stand_ins:
        fail = "exit 1" if failing_chown and tool == "chown" else "exit 0"
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n{fail}\n')
        (bin_dir / tool).chmod(0o755)
    body = container_text(script).replace(PREPARE_ROOT, str(root))
    result = subprocess.run([*entrypoint[:2], body, *entrypoint[3:], *setup["command"]],
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, root


@pytest.mark.parametrize("combination", ["stack", "cluster"])
def test_setup_prepares_each_volume_then_runs_init(tmp_path, combination):
    model = rendered(combination)
    result, calls, root = run_setup_entrypoint(tmp_path, model)
    assert result.returncode == 0, result.stderr
    uid, gid = setup_owner(model)
    for target in prepared_by_setup(model).values():
        path = root / target.removeprefix(PREPARE_ROOT + "/")
        assert f"chown {uid}:{gid} {path}" in calls
        assert f"chmod 0770 {path}" in calls
    assert calls[-1] == "python -m elk_provision " + " ".join(model["services"]["setup"]["command"])


def test_setup_fails_before_init_when_a_volume_cannot_be_prepared(tmp_path, stack):
    result, calls, _ = run_setup_entrypoint(tmp_path, stack, failing_chown=True)
    assert result.returncode != 0
    assert not any(call.startswith("python") for call in calls)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to uid 1000 needs root")
def test_setup_really_leaves_each_volume_writable_for_elastics_uid(tmp_path, stack):
    """The same script with the real chown and chmod, as root like the setup container."""
    result, calls, root = run_setup_entrypoint(tmp_path, stack, stand_ins=("python",))
    assert result.returncode == 0, result.stderr
    assert calls[-1].startswith("python -m elk_provision init")
    for target in prepared_by_setup(stack).values():
        info = (root / target.removeprefix(PREPARE_ROOT + "/")).stat()
        assert (info.st_uid, info.st_gid) == setup_owner(stack)
        assert stat.S_IMODE(info.st_mode) == 0o770

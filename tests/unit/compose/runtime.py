"""What the rendered compose model implies at run time: users, writable volumes, wrappers."""

from __future__ import annotations

import re
from pathlib import Path

# Elastic's Elasticsearch, Logstash and Kibana images run as uid 1000, gid 0 (their
# Dockerfiles: elastic/dockerfiles, elastic/logstash docker/templates/Dockerfile.erb).
ELASTIC_IMAGES = "docker.elastic.co/"
ELASTIC_UID = 1000


def dockerfile_user(dockerfile: Path) -> int:
    """The uid a Dockerfile's last USER runs as (a name is looked up in its useradd line)."""
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+([^\s:]+)", text, re.MULTILINE)
    if not users:
        return 0
    user = users[-1]
    if user.isdigit():
        return int(user)
    match = re.search(rf"useradd\b[^\n]*--uid\s+(\d+)[^\n]*\s{re.escape(user)}\s*$", text,
                      re.MULTILINE)
    assert match, f"{dockerfile}: cannot tell the uid of USER {user}"
    return int(match.group(1))


def effective_uid(service: dict) -> int:
    """The uid the service's main process starts as."""
    if service.get("user"):
        return int(str(service["user"]).split(":")[0])
    if service["image"].startswith(ELASTIC_IMAGES):
        return ELASTIC_UID
    build = service["build"]
    return dockerfile_user(Path(build["context"], build.get("dockerfile", "Dockerfile")))


def writable_named_volumes(service: dict) -> dict[str, str]:
    """Named volume -> target, for each named volume the service mounts read-write."""
    return {mount["source"]: mount["target"] for mount in service.get("volumes", [])
            if mount["type"] == "volume" and not mount.get("read_only")}


def script_of(command: list[str] | None) -> str | None:
    """The script of a `["/bin/bash"|"/bin/sh", "-...c", script, ...]` command, if it is one."""
    if command and len(command) >= 3 and command[0] in ("/bin/bash", "/bin/sh") \
            and command[1].startswith("-") and command[1].endswith("c"):
        return command[2]
    return None




def setup_owner(model: dict) -> tuple[int, int]:
    """The uid:gid that setup's init gives the secrets (its --owner)."""
    command = model["services"]["setup"]["command"]
    uid, gid = command[command.index("--owner") + 1].split(":")
    return int(uid), int(gid)

"""Debian roots made with debootstrap, used as Ansible hosts through the chroot connection.

The base root is built once per machine (about 25 s, 200 MB) and cached outside the
repository; every test run copies it per host so runs never share state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("ELK_ROOTFS_CACHE", "/var/tmp/flask-elk-rootfs"))
SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


class RootUnavailable(Exception):
    """Why no Debian root can be made here (one line, for the skip message)."""


def base_root() -> Path:
    """The cached minbase root, built on first use."""
    base = CACHE / f"{SUITE}-minbase"
    if (base / "usr/bin/apt-get").exists():
        return base
    if os.geteuid() != 0:
        raise RootUnavailable("debootstrap and chroot need root")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise RootUnavailable("debootstrap is not installed (apt-get install debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    # Built beside the final name and renamed, so an interrupted build is never mistaken
    # for a cached one.
    work = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
    try:
        done = subprocess.run(
            [debootstrap, "--variant=minbase", SUITE, str(work / "root"), MIRROR],
            capture_output=True, text=True, timeout=900, check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RootUnavailable(f"debootstrap failed: {tail[0]}")
        (work / "root").rename(base)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return base


def copy_root(base: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(dest)], check=True)
    # The host's resolver, so apt and pip inside the root reach their mirrors.
    shutil.copyfile("/etc/resolv.conf", dest / "etc/resolv.conf")
    # Certificate authorities this machine adds (a TLS-inspecting egress proxy, say): the
    # root's ca-certificates package picks them up when the play installs it.
    local_cas = dest / "usr/local/share/ca-certificates"
    local_cas.mkdir(parents=True, exist_ok=True)
    for ca in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copyfile(ca, local_cas / ca.name)
    return dest


def in_root(root: Path, *command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command inside a root, as the chroot connection does."""
    return subprocess.run(["chroot", str(root), *command], capture_output=True, text=True,
                          timeout=timeout, check=False)

"""The Docker engine connection, container labels and who owns a container (``agentguard.owner``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from agentguard.errors import SandboxError
from agentguard.owner import Owner, is_alive

MANAGED = "io.agentguard.managed"
CALL_ID = "io.agentguard.call-id"
OWNER_PID = "io.agentguard.owner-pid"
OWNER_HOST = "io.agentguard.owner-host"
OWNER_START = "io.agentguard.owner-start"
LANGUAGE = "io.agentguard.language"
PROFILE = "io.agentguard.profile"
POOL = "io.agentguard.pool"
RECIPE_HASH = "io.agentguard.recipe-hash"
ROOTFS_HASH = "io.agentguard.rootfs-hash"
RUNNER_PROTOCOL = "io.agentguard.runner-protocol"

# The runner protocol an image must speak (its label); a runner change the host relies on bumps it,
# so that an older image is refused, not run without it. 2: the header carries code_bytes and a
# request cut short runs nothing (1 read the code to EOF and ran a prefix when the host died).
PROTOCOL = 2
SANDBOX_UID = "10001:10001"
BUILD_HINT = "run `agentguard sandbox build`"


def connect(docker_host: str | None = None) -> Any:
    """A Docker client that answered a ping, or ``SandboxError`` saying what to do."""
    where = docker_host or os.environ.get("DOCKER_HOST") or "the local socket"
    try:
        if docker_host:
            client = docker.DockerClient(base_url=docker_host, timeout=120, max_pool_size=32)
        else:
            client = docker.from_env(timeout=120, max_pool_size=32)
        client.ping()
    except DockerException as exc:
        raise SandboxError(
            f"Docker engine unreachable at {where}: {exc}. Start the Docker daemon (or set DOCKER_HOST); "
            "`agentguard sandbox doctor` checks the whole setup.",
            docker_host=where,
        ) from exc
    return client


def image_name(prefix: str, language: str) -> str:
    return f"{prefix}-{language}:latest"


def base_image_name(prefix: str, suite: str) -> str:
    return f"{prefix}-base:{suite}"


def owner_labels(owner: Owner) -> dict[str, str]:
    """The container labels naming the process that started it (``reap`` removes it once that is dead)."""
    return {OWNER_PID: str(owner.pid), OWNER_HOST: owner.host, OWNER_START: owner.start or ""}


def labelled_owner(labels: Mapping[str, str]) -> Owner | None:
    """The owner a container's labels name; ``None`` when its pid label is missing or malformed.

    The start label may be a bare start time (labels written before the owner was one notion with the
    approval queue's); ``is_alive`` compares that with the process's start time alone.
    """
    try:
        pid = int(labels.get(OWNER_PID, ""))
    except ValueError:
        return None
    return Owner(pid=pid, host=labels.get(OWNER_HOST, ""), start=labels.get(OWNER_START) or None)


def owner_alive(labels: Mapping[str, str]) -> bool | None:
    """Whether the process that started a container still runs; None when it is on another host."""
    owner = labelled_owner(labels)
    return False if owner is None else is_alive(owner)


# Host paths a sandbox must never see (CIS 5.5 and 5.31): mounting one, or any ancestor of one, is refused.
SENSITIVE_PATHS: tuple[str, ...] = (
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/sys",
    "/usr",
    "/bin",
    "/sbin",
    "/root",
    "/home",
    "/run",
    "/var",
    "/var/run",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/lib/docker",
    # Temp directories hold other programs' sockets: X11, agents, every container's egress proxy socket.
    "/tmp",
    "/var/tmp",
)
_SENSITIVE_TREES = ("/proc", "/sys", "/dev", "/boot", "/etc", "/run", "/var/run", "/var/lib/docker")


def sensitive_reason(path: str) -> str | None:
    """Why ``path`` must not be mounted into a sandbox, or None if it may be."""
    p = os.path.normpath(path)
    if p in SENSITIVE_PATHS:
        return f"{p} is a sensitive host path"
    for tree in _SENSITIVE_TREES:
        if p.startswith(tree + "/"):
            return f"{p} is inside {tree}"
    if p.endswith("docker.sock") or p.endswith("containerd.sock"):
        return f"{p} is a container engine socket"
    # The home directory as given and resolved: a workspace is compared resolved, HOME may be a link.
    homes = {os.path.normpath(str(Path.home())), os.path.realpath(Path.home())}
    if p in homes:
        return f"{p} is the home directory (keys, credentials)"
    temp = os.path.realpath(tempfile.gettempdir())  # the egress proxy's sockets are made here
    if p == temp:
        return f"{p} is the temp directory (other programs' sockets)"
    inside = p.rstrip("/") + "/"
    for held in (*SENSITIVE_PATHS, *sorted(homes), temp):
        if held.startswith(inside):
            return f"{p} holds {held}"
    return None

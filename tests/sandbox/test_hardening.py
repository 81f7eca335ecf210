"""The CIS-style hardening check, on real `docker inspect` output of a sandbox and of a plain container."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import HardeningItem, SandboxProfile, check_hardening, hardening_failures
from agentguard.sandbox._container import PoolKey, container_config, remove, spawn

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def sandbox_inspect(images: Any, docker_client: Any) -> dict[str, Any]:
    api = docker_client.api
    key = PoolKey("python", "default", SandboxProfile())
    config = container_config(
        api, image="agentguard-sandbox-python:latest", key=key, workspace=None, call_id="h"
    )
    live = spawn(api, config, key)
    try:
        attrs: dict[str, Any] = api.inspect_container(live.id)
    finally:
        live.close_socket()
        remove(api, live.id)
    return attrs


def failing(items: list[HardeningItem]) -> set[str]:
    return {i.name for i in hardening_failures(items)}


def test_sandbox_container_passes_every_item(sandbox_inspect: dict[str, Any]) -> None:
    items = check_hardening(sandbox_inspect)
    assert failing(items) == set()
    assert len(items) == 13
    assert {i.cis for i in items} >= {
        "5.3",
        "5.4",
        "5.5, 5.31",
        "5.10",
        "5.12",
        "5.21",
        "5.25",
        "5.28",
        "4.1",
    }


def test_plain_docker_container_fails_the_check(images: Any, docker_client: Any) -> None:
    """A container with the engine's defaults (created, never started) is caught."""
    api = docker_client.api
    cid = api.create_container("agentguard-sandbox-python:latest", ["true"], user="0")["Id"]
    try:
        attrs = api.inspect_container(cid)
    finally:
        api.remove_container(cid, force=True)
    assert failing(check_hardening(attrs)) == {
        "all capabilities dropped, none added",
        "read-only root filesystem",
        "network none",
        "memory limited, swap equal to memory",
        "CPU limited",
        "pids limited",
        "no-new-privileges",
        "non-root user",
        *(
            ["no host PID/IPC/UTS/user/cgroup namespace"]
            if attrs["HostConfig"].get("CgroupnsMode") == "host"
            else []
        ),
    }


@pytest.mark.parametrize(
    ("change", "item"),
    [
        ({"HostConfig.Privileged": True}, "not privileged"),
        ({"HostConfig.CapAdd": ["SYS_ADMIN"]}, "all capabilities dropped, none added"),
        (
            {"HostConfig.SecurityOpt": ["no-new-privileges:true", "seccomp=unconfined"]},
            "default seccomp profile",
        ),
        ({"HostConfig.MemorySwap": -1}, "memory limited, swap equal to memory"),
        ({"HostConfig.PidMode": "host"}, "no host PID/IPC/UTS/user/cgroup namespace"),
        ({"HostConfig.IpcMode": "host"}, "no host PID/IPC/UTS/user/cgroup namespace"),
        ({"HostConfig.UTSMode": "host"}, "no host PID/IPC/UTS/user/cgroup namespace"),
        ({"HostConfig.NetworkMode": "host"}, "network none|no host PID/IPC/UTS/user/cgroup namespace"),
        ({"HostConfig.Devices": [{"PathOnHost": "/dev/kvm"}]}, "no host devices"),
        ({"Config.User": "root"}, "non-root user"),
        (
            {
                "Mounts": [
                    {"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/d", "RW": False}
                ]
            },
            "no docker socket or sensitive host path mounted",
        ),
        (
            {"Mounts": [{"Type": "bind", "Source": "/etc", "Destination": "/host-etc", "RW": False}]},
            "no docker socket or sensitive host path mounted",
        ),
    ],
)
def test_each_weakening_is_reported(
    sandbox_inspect: dict[str, Any], change: dict[str, Any], item: str
) -> None:
    attrs = copy.deepcopy(sandbox_inspect)
    for dotted, value in change.items():
        node = attrs
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    assert failing(check_hardening(attrs)) == set(item.split("|"))


def test_a_profile_that_enables_network_is_waived_not_passed(sandbox_inspect: dict[str, Any]) -> None:
    attrs = copy.deepcopy(sandbox_inspect)
    attrs["HostConfig"]["NetworkMode"] = "bridge"
    assert failing(check_hardening(attrs)) == {"network none"}
    items = check_hardening(attrs, SandboxProfile(network=True))
    net = next(i for i in items if i.name == "network none")
    assert net.ok
    assert net.waived


def test_a_weakened_container_is_refused_before_it_starts(images: Any, docker_client: Any) -> None:
    """spawn() inspects every container it creates and removes it unstarted if any item fails."""
    api = docker_client.api
    key = PoolKey("python", "default", SandboxProfile())
    config = container_config(
        api, image="agentguard-sandbox-python:latest", key=key, workspace=None, call_id="weak"
    )
    config["host_config"]["CapAdd"] = ["NET_RAW"]
    with pytest.raises(
        SandboxError, match="failed the hardening check: all capabilities dropped, none added"
    ):
        spawn(api, config, key)
    assert api.containers(all=True, filters={"label": "io.agentguard.call-id=weak"}) == []


def test_a_workspace_mounted_writable_against_its_profile_fails(sandbox_inspect: dict[str, Any]) -> None:
    # /workspace may be writable only when the profile says rw: an engine that came out with a
    # writable mount for "ro" (or a workspace for "none") must not start the container.
    attrs = copy.deepcopy(sandbox_inspect)
    attrs["Mounts"] = [{"Type": "bind", "Source": "/srv/ws", "Destination": "/workspace", "RW": True}]
    item = "no docker socket or sensitive host path mounted"
    assert failing(check_hardening(attrs, SandboxProfile(workspace="ro"))) == {item}
    assert failing(check_hardening(attrs, SandboxProfile())) == {item}
    assert not failing(check_hardening(attrs, SandboxProfile(workspace="rw")))


def test_below_a_rw_workspace_only_its_own_directories_may_be_writable(
    sandbox_inspect: dict[str, Any],
) -> None:
    # The directories above a read-only path are bound onto themselves (read-write) so they cannot
    # be renamed; any other writable mount below /workspace fails the check.
    attrs = copy.deepcopy(sandbox_inspect)
    ws = {"Type": "bind", "Source": "/srv/ws", "Destination": "/workspace", "RW": True}
    pin = {"Type": "bind", "Source": "/srv/ws/config", "Destination": "/workspace/config", "RW": True}
    ro = {"Type": "bind", "Source": "/srv/ws/.git", "Destination": "/workspace/.git", "RW": False}
    rw = SandboxProfile(workspace="rw")
    attrs["Mounts"] = [ws, pin, ro]
    assert not failing(check_hardening(attrs, rw))
    item = "no docker socket or sensitive host path mounted"
    for source in ("/srv/other", "/srv/ws/elsewhere", "/srv/ws"):
        attrs["Mounts"] = [ws, {**pin, "Source": source}, ro]
        assert failing(check_hardening(attrs, rw)) == {item}, source
    attrs["Mounts"] = [{**ws, "RW": False}, pin]
    assert failing(check_hardening(attrs, SandboxProfile(workspace="ro"))) == {item}

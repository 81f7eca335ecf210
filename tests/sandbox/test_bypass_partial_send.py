"""A program the host only partly sent never starts.

When sending the code fails part-way (the send times out, or Ctrl-C lands in ``sendall``), the host
kills the container. It used to close the attach socket first: the runner then read EOF, took the
prefix it had for the whole program and ran it (``rm -rf /workspace/build`` cut to
``rm -rf /workspace/``) while the engine was still being asked to kill the container. The container
is now killed with its stdin still open, so the runner dies waiting for the rest. And the header
carries the code's length: when the host itself dies part-way (its socket closes, the runner reads
EOF), the runner refuses the short read instead of running the prefix.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from agentguard.sandbox import Sandbox, SandboxSettings
from agentguard.sandbox._container import PoolKey
from agentguard.sandbox._engine import PROTOCOL
from agentguard.sandbox._protocol import encode_request

pytestmark = pytest.mark.docker


class SlowEngine:
    """The engine's API, answering a kill (``remove_container``) only after ``delay_s`` (a busy engine)."""

    def __init__(self, api: Any, delay_s: float) -> None:
        self._api = api
        self._delay_s = delay_s

    def remove_container(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self._delay_s)  # fault injection, not synchronisation
        return self._api.remove_container(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


def test_a_partly_sent_program_is_killed_before_it_can_start(
    images: object, docker_client: Any, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    if os.geteuid() == 0:
        os.chown(workspace, 1000, 1000)
    with Sandbox(
        SandboxSettings(pool_size=0),
        client=SlowEngine(docker_client.api, 3.0),
        workspace=workspace,
        reap_orphans=False,
    ) as sb:
        name, profile = sb.resolve_profile("workspace-rw")
        live = sb._spawn(PoolKey("shell", name, profile), "partial")
        header = {"protocol": PROTOCOL, "output_bytes": 4096, "timeout_s": 5.0, "cwd": "/workspace"}
        whole = b"touch /workspace/prefix-ran\necho the rest of the program"
        live.sock.sendall(encode_request(header, whole)[: -len(b"echo the rest of the program")])
        sb._kill_now(live)  # what the host does when the rest cannot be sent
        assert sb.drain(15)
    assert not (workspace / "prefix-ran").exists()


def test_a_program_cut_short_by_the_host_dying_never_starts(
    images: object, docker_client: Any, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    if os.geteuid() == 0:
        os.chown(workspace, 1000, 1000)
    with Sandbox(
        SandboxSettings(pool_size=0), client=docker_client, workspace=workspace, reap_orphans=False
    ) as sb:
        name, profile = sb.resolve_profile("workspace-rw")
        live = sb._spawn(PoolKey("shell", name, profile), "partial")
        header = {"protocol": PROTOCOL, "output_bytes": 4096, "timeout_s": 5.0, "cwd": "/workspace"}
        whole = b"touch /workspace/prefix-ran\necho the rest of the program"
        live.sock.sendall(encode_request(header, whole)[: -len(b"echo the rest of the program")])
        live.close_socket()  # what the host's death does: the rest of the program never comes
        docker_client.api.wait(live.id, timeout=30)  # the runner ends either way (auto-remove follows)
        assert sb.drain(15)
    assert not (workspace / "prefix-ran").exists()

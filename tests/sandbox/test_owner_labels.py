"""Container owner labels use the one owner notion (``agentguard.owner``), old labels still read."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard.owner import Owner, current_owner, is_alive
from agentguard.sandbox import SandboxSettings, list_managed
from agentguard.sandbox._engine import (
    MANAGED,
    OWNER_HOST,
    OWNER_PID,
    OWNER_START,
    image_name,
    labelled_owner,
    owner_alive,
    owner_labels,
)


def test_labels_round_trip_to_the_same_owner() -> None:
    me = current_owner()
    labels = owner_labels(me)
    assert labels[OWNER_START] == me.start  # the full token: boot id and start ticks
    assert labelled_owner(labels) == me
    assert owner_alive(labels) is True


def test_labels_of_a_reused_pid_a_bad_pid_or_another_host() -> None:
    me = current_owner()
    assert owner_alive({**owner_labels(me), OWNER_START: "other-boot:1"}) is False
    assert owner_alive({**owner_labels(me), OWNER_PID: "not-a-pid"}) is False
    assert owner_alive({**owner_labels(me), OWNER_HOST: "elsewhere.invalid"}) is None


def _child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)


def _end(child: subprocess.Popen[bytes]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=30)


@pytest.fixture
def made(docker_client: Any, images: Any) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for cid in ids:
        docker_client.api.remove_container(cid, force=True)


@pytest.mark.docker
def test_a_container_labelled_the_old_way_is_orphaned_only_once_its_owner_dies(
    docker_client: Any, made: list[str]
) -> None:
    """Labels written before the owner was one notion carry the bare start ticks: still live while the
    process runs, orphaned (what ``reap`` removes) once it has ended."""
    child = _child()
    try:
        # The old label: the start time alone, as /proc/<pid>/stat gives it (field 22).
        ticks = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[19]
        labels = {
            MANAGED: "true",
            OWNER_PID: str(child.pid),
            OWNER_HOST: socket.gethostname(),
            OWNER_START: ticks,
        }
        image = image_name(SandboxSettings().image_prefix, "python")
        created = docker_client.api.create_container(
            image, command=["true"], labels=labels, name=f"guardsplit-owner-{uuid.uuid4().hex[:8]}"
        )
        made.append(created["Id"])

        def mine() -> Any:
            return next(c for c in list_managed(docker_client.api) if c.id == created["Id"])

        assert mine().owner_alive is True
        assert not mine().orphaned
        assert is_alive(Owner(pid=child.pid, host=socket.gethostname(), start=ticks)) is True
    finally:
        _end(child)
    assert mine().owner_alive is False
    assert mine().orphaned

"""The background remover: a container that exits is removed by the engine and only confirmed; one
that does not exit is force-removed after the grace period; ``drain`` waits for both."""

from __future__ import annotations

import os
from typing import Any

import pytest

from agentguard.sandbox._container import Live, PoolKey, container_config, remove
from agentguard.sandbox._engine import MANAGED, OWNER_PID
from agentguard.sandbox._managed import own_container_ids, own_destroyed
from agentguard.sandbox._protocol import ResponseParser
from agentguard.sandbox._remover import Remover
from agentguard.sandbox_api import SandboxProfile

from .conftest import wait_until

pytestmark = pytest.mark.docker

IMAGE = "agentguard-sandbox-python:latest"
KEY = PoolKey("python", "default", SandboxProfile())


def started(api: Any, command: list[str], *, auto_remove: bool) -> Live:
    config = container_config(api, image=IMAGE, key=KEY, workspace=None, call_id="remover-test")
    config = {
        **config,
        "command": command,
        "stdin_open": False,
        "detach": True,
        "host_config": {**config["host_config"], "AutoRemove": auto_remove},
    }
    cid = api.create_container(**config)["Id"]
    api.start(cid)
    return Live(id=cid, key=KEY, sock=None, handle=None, parser=ResponseParser(1024))  # type: ignore[arg-type]


def test_exited_containers_are_confirmed_and_stuck_ones_forced(images: Any, docker_client: Any) -> None:
    api = docker_client.api
    forced: list[str] = []

    def force(cid: str) -> None:
        forced.append(cid)
        remove(api, cid)

    def present() -> list[str]:
        rows = api.containers(
            all=True, quiet=True, filters={"label": [f"{MANAGED}=true", f"{OWNER_PID}={os.getpid()}"]}
        )
        return [row["Id"] for row in rows]

    remover = Remover(force, present, grace_s=2.0)
    try:
        exits = started(api, ["true"], auto_remove=True)
        stuck = started(api, ["sleep", "300"], auto_remove=True)
        remover.submit(exits)
        remover.submit(stuck)
        assert remover.drain(60)
        assert remover.pending() == 0
        assert forced == [stuck.id]  # the one that exited needed no call of its own
        for live in (exits, stuck):
            assert api.containers(all=True, filters={"id": live.id}) == []
        discarded = started(api, ["sleep", "300"], auto_remove=False)
        remover.discard(discarded)
        assert remover.drain(60)
        assert forced[-1] == discarded.id
        assert api.containers(all=True, filters={"id": discarded.id}) == []
    finally:
        remover.close()


def test_the_engines_destroy_events_confirm_removals_without_listing(images: Any, docker_client: Any) -> None:
    api = docker_client.api
    listings: list[int] = []

    def present() -> list[str]:
        listings.append(1)
        return own_container_ids(api)

    # A listing would only come after fallback_s: every removal here must be seen in the events.
    remover = Remover(
        lambda cid: remove(api, cid), present, destroyed=lambda: own_destroyed(api), fallback_s=120.0
    )
    try:
        wait_until(lambda: remover.listening, what="the events stream")
        lives = [started(api, ["true"], auto_remove=True) for _ in range(3)]
        for live in lives:
            remover.submit(live)
        assert remover.drain(60)
        assert listings == []
        for live in lives:
            assert api.containers(all=True, filters={"id": live.id}) == []
    finally:
        remover.close()
    assert not remover.listening


def test_without_the_engines_events_removals_are_confirmed_by_listing(
    images: Any, docker_client: Any
) -> None:
    api = docker_client.api
    listings: list[int] = []

    def present() -> list[str]:
        listings.append(1)
        return own_container_ids(api)

    def no_events() -> Any:
        raise OSError("this engine streams no events")

    remover = Remover(lambda cid: remove(api, cid), present, destroyed=no_events, fallback_s=120.0)
    try:
        live = started(api, ["true"], auto_remove=True)
        remover.submit(live)
        assert remover.drain(60)
        assert listings  # confirmed by the listing, long before fallback_s
        assert api.containers(all=True, filters={"id": live.id}) == []
    finally:
        remover.close()

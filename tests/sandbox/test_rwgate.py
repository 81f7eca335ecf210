"""The rw gate's lock directory: private to the user and outside the workspace, or rw is refused."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import _rwgate
from agentguard.sandbox._quarantine import Watch
from agentguard.sandbox._rwgate import RwGate, ServerHold


def test_a_lock_directory_others_can_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_rwgate, "LOCK_PARENT", tmp_path)
    shared = tmp_path / f"agentguard-rw-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    ws = tmp_path / "ws"
    ws.mkdir()
    with pytest.raises(SandboxError, match="not a directory private"), RwGate(str(ws)).making():
        pass


def test_a_lock_directory_inside_the_workspace_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_rwgate, "LOCK_PARENT", tmp_path)
    with (
        pytest.raises(SandboxError, match="inside the workspace"),
        RwGate(str(tmp_path)).running(Watch(str(tmp_path))),
    ):
        pass


def test_a_second_server_and_a_making_are_refused_while_a_server_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_rwgate, "LOCK_PARENT", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    hold = ServerHold(str(ws), "the server `x`")
    try:
        with pytest.raises(SandboxError, match="cannot start this rw sandboxed MCP server: the server `x`"):
            ServerHold(str(ws), "another")
        refused = pytest.raises(SandboxError, match="cannot make a rw sandbox container now: the server `x`")
        with refused, RwGate(str(ws)).making():
            pass
        with RwGate(str(ws)).running(Watch(str(ws))) as before:  # rw code still runs beside it
            assert before == frozenset()
    finally:
        hold.release()
    with RwGate(str(ws)).making():  # the server is gone
        pass


# Red team: nested workspaces (one guard on a monorepo, another on ``frontend/`` in it). Code running
# in either can swap a directory a container on the other is about to mount (or the inner workspace
# itself) for a link to any host directory; the gate was keyed by the exact path, so it did not see it.


def _nested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    monkeypatch.setattr(_rwgate, "LOCK_PARENT", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    outer = tmp_path / "repo"
    (outer / "frontend").mkdir(parents=True)
    (outer / "backend").mkdir()
    return str(outer), str(outer / "frontend"), str(outer / "backend")


def _would_wait(plan: list[tuple[Path, int]]) -> bool:
    """Whether taking ``plan`` now would wait (each lock probed without waiting, then dropped)."""
    for path, mode in plan:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False


def test_rw_code_running_above_or_below_holds_off_a_making(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer, inner, sibling = _nested(tmp_path, monkeypatch)
    with RwGate(outer).running(Watch(outer)):
        assert _would_wait(_rwgate.making_plan(inner)[0])
    with RwGate(inner).running(Watch(inner)):
        assert _would_wait(_rwgate.making_plan(outer)[0])
        assert not _would_wait(_rwgate.making_plan(sibling)[0])  # siblings do not wait for each other
        assert not _would_wait(_rwgate.running_plan(outer))  # runs run beside runs
    with RwGate(outer).running(Watch(outer)):  # a read-only mount below it waits too
        assert _would_wait(_rwgate.mounting_plan(inner)[0])
    with RwGate(inner).running(Watch(inner)):  # not one above it (code below cannot reach it)
        assert not _would_wait(_rwgate.mounting_plan(outer)[0])
    with RwGate(outer).making():
        assert _would_wait(_rwgate.running_plan(inner))
        assert not _would_wait(_rwgate.running_plan(str(tmp_path / "elsewhere")))


@pytest.mark.parametrize("server_on", ["outer", "inner"])
def test_a_server_above_or_below_refuses_a_making_and_another_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_on: str
) -> None:
    outer, inner, sibling = _nested(tmp_path, monkeypatch)
    held, other = (outer, inner) if server_on == "outer" else (inner, outer)
    hold = ServerHold(held, "the server `x`")
    try:
        with (
            pytest.raises(SandboxError, match="cannot make a rw sandbox container now"),
            RwGate(other).making(),
        ):
            pass
        with pytest.raises(SandboxError, match="cannot start this rw sandboxed MCP server"):
            ServerHold(other, "another")
        if server_on == "outer":
            refused = pytest.raises(SandboxError, match="cannot make a sandbox container with the workspace")
            with refused, _rwgate.mounting(other):
                pass
        if server_on == "inner":
            with RwGate(sibling).making():  # a sibling of the server's workspace is not refused
                pass
    finally:
        hold.release()
    with RwGate(other).making():
        pass
    ServerHold(other, "another").release()

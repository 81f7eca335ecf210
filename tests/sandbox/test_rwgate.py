"""The rw gate's lock directory: private to the user and outside the workspace, or rw is refused."""

from __future__ import annotations

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

"""Red team (review of ``Decision.files``): two ways ``fs.read`` still read a file put under the
decided name after the decision, because the read was held to no identity at all.

- An approver's edit that leaves the path as it was (the web UI's and the TUI's edit dialogs start
  from the call's arguments; "Approve edited" with nothing changed sends them back). The edited call
  was held to the re-decision's look, taken after the wait: a hard link to ``.env`` made during the
  wait asks just as the approved one did, and an edit never asks again, so it was read.
- A workspace of ``/`` (the default workspace is the working directory, ``/`` in a container with no
  ``WORKDIR``): ``fs.read`` looked its file up under ``"/".join(["/", ...])``, ``//tmp/...``, a name
  no decision carries, so it held the read to nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentguard import Guard, Settings
from agentguard.context import CallContext, serving
from agentguard.errors import ToolFailed
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus, Decision, Effect, ToolCall
from agentguard.testing import MemoryAudit, ScriptedApprover
from agentguard.tools.filesystem import UnsafePath, Workspace
from tests.tools.test_bypass_swapped_after_decision import PERMISSIONS, SECRET, _workspace


def _link_env_over(ws: Path, name: str) -> None:
    tmp = ws / ".swap.tmp"
    os.link(ws / ".env", tmp)
    os.replace(tmp, ws / name)


@pytest.mark.parametrize("spelling", ["pkg.txt", "./pkg.txt"])
def test_an_edit_keeping_the_path_holds_to_the_file_the_approver_was_asked_about(
    tmp_path: Path, spelling: str
) -> None:
    ws = _workspace(tmp_path)
    store = tmp_path / "store.txt"
    store.write_text("lockfile\n")
    os.link(store, ws / "pkg.txt")  # pnpm-style: a hard link into a store, so the read asks

    def edit_after_the_swap(request: ApprovalRequest) -> ApprovalResult:
        _link_env_over(ws, "pkg.txt")
        return ApprovalResult(
            status=ApprovalStatus.APPROVED,
            approver="alice",
            channel="script",
            edited_arguments={"path": spelling},
        )

    settings = Settings(home=tmp_path / "home", workspace=ws)
    approver = ScriptedApprover(edit_after_the_swap)
    with Guard(PERMISSIONS, approver=approver, audit=MemoryAudit(), settings=settings) as guard:
        guard.register_builtins()
        with pytest.raises(ToolFailed) as raised:
            guard.call("fs.read", {"path": "pkg.txt"})
    assert len(approver.requests) == 1
    assert "sk-live" not in str(raised.value)
    assert "not the file the decision looked at" in str(raised.value)


def test_an_edit_to_another_path_is_held_to_the_file_decided_for_it(tmp_path: Path) -> None:
    """A name the approver was not asked about holds to what the re-decision looked at."""
    ws = _workspace(tmp_path)
    store = tmp_path / "store.txt"
    store.write_text("lockfile\n")
    os.link(store, ws / "pkg.txt")

    def edit(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.APPROVED,
            approver="alice",
            channel="script",
            edited_arguments={"path": "notes.txt"},
        )

    settings = Settings(home=tmp_path / "home", workspace=ws)
    with Guard(PERMISSIONS, approver=ScriptedApprover(edit), audit=MemoryAudit(), settings=settings) as guard:
        guard.register_builtins()
        assert guard.call("fs.read", {"path": "pkg.txt"}) == "meeting at 3\n"


def _decided(path: Path, files: dict[str, tuple[int, int] | None]) -> CallContext:
    call = ToolCall(agent="coder", tool="fs.read", arguments={"path": str(path)})
    decision = Decision(effect=Effect.ALLOW, reason="allowed", files=files)
    return CallContext(call, decision, Settings(workspace=Path("/")))


def test_a_workspace_at_the_root_holds_the_read_to_the_decided_file(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    notes = os.stat(ws / "notes.txt")
    decided = {str(ws / "notes.txt"): (notes.st_dev, notes.st_ino)}
    _link_env_over(ws, "notes.txt")  # after the decision, before the read
    with serving(_decided(ws / "notes.txt", decided)), pytest.raises(UnsafePath) as raised:
        Workspace(Path("/")).read(str(ws / "notes.txt"))
    assert "not the file the decision looked at" in str(raised.value)


def test_a_workspace_at_the_root_still_reads_the_decided_file(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    env = os.stat(ws / ".env")
    decided = {str(ws / ".env"): (env.st_dev, env.st_ino)}
    with serving(_decided(ws / ".env", decided)):
        assert Workspace(Path("/")).read(str(ws / ".env")) == SECRET

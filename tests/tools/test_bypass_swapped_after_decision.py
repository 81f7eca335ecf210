"""Red team: the file read is not the file decided, when the name is re-pointed in between.

The decision looked at ``notes.txt`` (an ordinary file with one name) and allowed the read; before
``fs.read`` opened it, another process (an approved shell command, a second agent, a sandboxed run
with the workspace mounted rw) made ``notes.txt`` a hard link to ``.env`` (``ln -f .env notes.txt``)
or renamed the credential over it (``mv .env notes.txt``). No symlink is involved, so the no-follow
open did not notice, and the credential was read under the allowed name. The decision now carries
the identity (device, inode) of each file it looked at (``Decision.files``), and ``fs.read``
refuses a file that is not that one.

The swap is made by the audit sink on ``execution.started``: after the decision, before the tool
opens the file, in the very order of a real race, without sleeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, Settings
from agentguard.errors import ToolFailed
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

PERMISSIONS = Path(__file__).resolve().parents[2] / "permissions"
SECRET = "API_KEY=sk-live-0123456789\n"


class SwapOnStart(MemoryAudit):
    """Runs ``swap`` once, when the guard records ``execution.started`` (decided, not yet run)."""

    def __init__(self, swap: Callable[[], None]) -> None:
        super().__init__()
        self._swap: Callable[[], None] | None = swap

    def record(self, event: str, /, **fields: Any) -> None:
        super().record(event, **fields)
        if event == "execution.started" and self._swap is not None:
            swap, self._swap = self._swap, None
            swap()


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".env").write_text(SECRET)
    (ws / "notes.txt").write_text("meeting at 3\n")
    return ws


def _hard_link_over(ws: Path) -> None:
    tmp = ws / ".notes.tmp"
    os.link(ws / ".env", tmp)
    os.replace(tmp, ws / "notes.txt")  # ln -f .env notes.txt


def _rename_over(ws: Path) -> None:
    os.replace(ws / ".env", ws / "notes.txt")  # mv .env notes.txt


def _copy_over(ws: Path) -> None:  # a new file with the same text: the text, not the credential's name
    tmp = ws / ".notes.tmp"
    tmp.write_text("meeting at 4\n")
    os.replace(tmp, ws / "notes.txt")


SWAPS = {"hard link made over it": _hard_link_over, "credential renamed over it": _rename_over}


def _guard(ws: Path, tmp_path: Path, audit: MemoryAudit) -> Guard:
    settings = Settings(home=tmp_path / "home", workspace=ws)
    approver = ScriptedApprover(lambda request: "deny")
    guard = Guard(PERMISSIONS, approver=approver, audit=audit, settings=settings)
    guard.register_builtins()
    return guard


@pytest.mark.parametrize("swap", list(SWAPS), ids=list(SWAPS))
def test_a_file_replaced_after_the_decision_is_not_read(tmp_path: Path, swap: str) -> None:
    ws = _workspace(tmp_path)
    audit = SwapOnStart(lambda: SWAPS[swap](ws))
    with _guard(ws, tmp_path, audit) as guard, pytest.raises(ToolFailed) as raised:
        guard.call("fs.read", {"path": "notes.txt"})
    assert "sk-live" not in str(raised.value)
    assert "not the file the decision looked at" in str(raised.value)
    finished = [r for r in audit.records if r["event"] == "execution.finished"]
    assert all("sk-live" not in repr(r) for r in finished)


def test_the_same_file_rewritten_in_place_is_still_read(tmp_path: Path) -> None:
    """The identity is the file, not its text: an edit in place (same inode) is the decided file."""
    ws = _workspace(tmp_path)

    def edit() -> None:
        with open(ws / "notes.txt", "w") as handle:
            handle.write("meeting at 5\n")

    with _guard(ws, tmp_path, SwapOnStart(edit)) as guard:
        assert guard.call("fs.read", {"path": "notes.txt"}) == "meeting at 5\n"


def test_a_file_replaced_by_a_fresh_copy_is_refused_too(tmp_path: Path) -> None:
    """Fails closed: an editor's save (temp file, rename) between decision and read is another
    file; the agent asks again and that decision looks at the new one."""
    ws = _workspace(tmp_path)
    with _guard(ws, tmp_path, SwapOnStart(lambda: _copy_over(ws))) as guard:
        with pytest.raises(ToolFailed):
            guard.call("fs.read", {"path": "notes.txt"})
        assert guard.call("fs.read", {"path": "notes.txt"}) == "meeting at 4\n"


def test_a_file_that_appeared_after_the_decision_is_refused(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    audit = SwapOnStart(lambda: os.link(ws / ".env", ws / "later.txt"))
    with _guard(ws, tmp_path, audit) as guard, pytest.raises(ToolFailed) as raised:
        guard.call("fs.read", {"path": "later.txt"})
    assert "sk-live" not in str(raised.value)


def test_the_decision_names_the_file_it_looked_at(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    engine = PolicyEngine.load(PERMISSIONS, workspace=ws)
    notes = os.stat(ws / "notes.txt")
    decision = engine.decide(ToolCall(agent="coder", tool="fs.read", arguments={"path": "notes.txt"}))
    assert decision.effect is Effect.ALLOW
    assert decision.files == {str(ws / "notes.txt"): (notes.st_dev, notes.st_ino)}
    missing = engine.decide(ToolCall(agent="coder", tool="fs.read", arguments={"path": "nothing.txt"}))
    assert missing.files == {str(ws / "nothing.txt"): None}
    listed = engine.decide(ToolCall(agent="coder", tool="fs.list", arguments={"path": "."}))
    assert listed.files.get(str(ws)) is None  # a directory: no file to hold a read to


def test_hard_linked_and_the_identity_come_from_one_look(tmp_path: Path) -> None:
    """``hard_linked(path)`` reads the same lstat as ``Decision.files``: a swap between two looks
    cannot give the condition one file and the tool another."""
    ws = _workspace(tmp_path)
    os.link(ws / ".env", ws / "linked.txt")
    engine = PolicyEngine.load(PERMISSIONS, workspace=ws)
    decision = engine.decide(ToolCall(agent="coder", tool="fs.read", arguments={"path": "linked.txt"}))
    assert decision.effect is Effect.ASK
    env = os.stat(ws / ".env")
    assert decision.files[str(ws / "linked.txt")] == (env.st_dev, env.st_ino)


def test_a_file_replaced_while_the_approver_was_asked_is_not_read(tmp_path: Path) -> None:
    """The approver was asked about the file the decision looked at (a hard-linked one asks); one
    put in its place during the wait (a hard link to ``.env``, which asks just the same when the
    call is decided again) is not the file approved."""
    ws = _workspace(tmp_path)
    store = tmp_path / "store.txt"
    store.write_text("lockfile\n")
    os.link(store, ws / "pkg.txt")  # pnpm-style: a hard link into a store, so the read asks

    def approve_after_the_swap(request: Any) -> str:
        tmp = ws / ".pkg.tmp"
        os.link(ws / ".env", tmp)
        os.replace(tmp, ws / "pkg.txt")
        return "approve"

    settings = Settings(home=tmp_path / "home", workspace=ws)
    approver = ScriptedApprover(approve_after_the_swap)
    with Guard(PERMISSIONS, approver=approver, audit=MemoryAudit(), settings=settings) as guard:
        guard.register_builtins()
        with pytest.raises(ToolFailed) as raised:
            guard.call("fs.read", {"path": "pkg.txt"})
    assert len(approver.requests) == 1
    assert "sk-live" not in str(raised.value)

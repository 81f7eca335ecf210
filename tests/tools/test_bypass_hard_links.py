"""Red team: a hard link is a second name for a credential file, and the policy decides on names.

``ln .env notes.txt`` (an approved shell command, an archive extracted with its hard links, ``cp -al``)
gave the file a name no credential rule knows; ``fs.read notes.txt`` was then allowed without a
word. Nothing tells a file's other names, but that it has some does: the default policy asks before
reading a regular file with several links (``hard_linked(path)``; not denied, pnpm's ``node_modules``
is hard links). A write through either name replaces that name only; the credential is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard import Guard, Settings
from agentguard.errors import ApprovalDenied
from agentguard.testing import MemoryAudit, ScriptedApprover

PERMISSIONS = Path(__file__).resolve().parents[2] / "permissions"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".env").write_text("API_KEY=secret\n")
    os.link(ws / ".env", ws / "notes.txt")
    (ws / "readme.md").write_text("hello\n")
    return ws


@pytest.fixture
def approver() -> ScriptedApprover:
    return ScriptedApprover(lambda request: "approve")


@pytest.fixture
def guard(workspace: Path, tmp_path: Path, approver: ScriptedApprover) -> Iterator[Guard]:
    settings = Settings(home=tmp_path / "home", workspace=workspace)
    guard = Guard(PERMISSIONS, approver=approver, audit=MemoryAudit(), settings=settings)
    guard.register_builtins()
    yield guard
    guard.close()


def test_a_hard_link_to_a_credential_is_not_read_silently(guard: Guard, approver: ScriptedApprover) -> None:
    guard.call("fs.read", {"path": ".env"})
    assert len(approver.requests) == 1  # the name asks
    guard.call("fs.read", {"path": "notes.txt"})
    assert len(approver.requests) == 2, "fs.read of a second name of .env ran without asking"


def test_a_refused_read_of_the_other_name_returns_nothing(workspace: Path, tmp_path: Path) -> None:
    approver = ScriptedApprover(lambda request: "deny")
    settings = Settings(home=tmp_path / "home", workspace=workspace)
    with Guard(PERMISSIONS, approver=approver, audit=MemoryAudit(), settings=settings) as guard:
        guard.register_builtins()
        with pytest.raises(ApprovalDenied) as raised:
            guard.call("fs.read", {"path": "notes.txt"})
        assert "secret" not in str(raised.value)
        assert len(approver.requests) == 1
        assert guard.call("fs.read", {"path": "readme.md"}) == "hello\n"  # one link: read unasked
        assert len(approver.requests) == 1


def test_a_write_through_the_other_name_leaves_the_credential_alone(guard: Guard, workspace: Path) -> None:
    guard.call("fs.write", {"path": "notes.txt", "content": "API_KEY=attacker\n"})
    assert (workspace / ".env").read_text() == "API_KEY=secret\n"
    assert (workspace / "notes.txt").read_text() == "API_KEY=attacker\n"
    assert os.stat(workspace / ".env").st_nlink == 1

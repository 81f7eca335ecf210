"""Red team: a hard link is a second name for a credential file, and the policy decides on names.

``ln .env notes.txt`` (an approved shell command, an archive extracted with its hard links, ``cp -al``)
gives the file a name no credential rule knows; ``fs.read notes.txt`` is then allowed without a
word. Nothing tells a file's other names, and refusing every file with several links would refuse
pnpm's ``node_modules`` (docs/policy.md, "What the guard can and cannot see"). Pinned here as known.
What holds: a write through either name replaces that name only; the credential file is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard import Guard, Settings
from agentguard.testing import MemoryAudit, ScriptedApprover

PERMISSIONS = Path(__file__).resolve().parents[2] / "permissions"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".env").write_text("API_KEY=secret\n")
    os.link(ws / ".env", ws / "notes.txt")
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


@pytest.mark.xfail(strict=True, reason="a hard link's other names are unknown: the policy decides on names")
def test_a_hard_link_to_a_credential_is_not_read_silently(guard: Guard, approver: ScriptedApprover) -> None:
    guard.call("fs.read", {"path": ".env"})
    assert len(approver.requests) == 1  # the name asks
    guard.call("fs.read", {"path": "notes.txt"})
    assert len(approver.requests) == 2, "fs.read of a second name of .env ran without asking"


def test_a_write_through_the_other_name_leaves_the_credential_alone(guard: Guard, workspace: Path) -> None:
    guard.call("fs.write", {"path": "notes.txt", "content": "API_KEY=attacker\n"})
    assert (workspace / ".env").read_text() == "API_KEY=secret\n"
    assert (workspace / "notes.txt").read_text() == "API_KEY=attacker\n"
    assert os.stat(workspace / ".env").st_nlink == 1

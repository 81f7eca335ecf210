"""Red team: a hard link gives a credential file a name no credential rule knows.

``ln .env notes.txt`` (an approved shell command, an archive's hard links, ``cp -al``): the
default policy read ``notes.txt`` without asking, the read-only example let the agent read it and
mcp-desktop handed it to the server. Its other names cannot be found, but that it has some can:
``hard_linked(path)`` is a regular file with ``st_nlink > 1``, and the shipped policies ask (not
deny: pnpm's ``node_modules`` is hard links into its store).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._hardlinks import has_other_names
from agentguard.policy._net_conditions import CannotTell

from .conftest import EXAMPLES, PERMISSIONS, decide


@pytest.fixture
def files(workspace: Path) -> Path:
    (workspace / ".env").write_text("API_KEY=secret\n")
    os.link(workspace / ".env", workspace / "notes.txt")
    (workspace / "store").mkdir()
    (workspace / "store" / "index.js").write_text("module.exports = 1\n")
    (workspace / "node_modules").mkdir()
    os.link(workspace / "store" / "index.js", workspace / "node_modules" / "index.js")
    (workspace / "to-notes").symlink_to(workspace / "notes.txt")  # a symlink to a linked file
    (workspace / "to-app").symlink_to(workspace / "src" / "app.py")
    return workspace


# (policy, tool, path, effect): every shipped policy that reads file content by path
CASES = [
    (PERMISSIONS, "fs.read", "notes.txt", Effect.ASK),
    (PERMISSIONS, "fs.read", "node_modules/index.js", Effect.ASK),
    (PERMISSIONS, "fs.read", "to-notes", Effect.ASK),  # resolved as path() resolves it
    (PERMISSIONS, "fs.read", "src/app.py", Effect.ALLOW),  # one link: as before
    (PERMISSIONS, "fs.read", "to-app", Effect.ALLOW),
    (PERMISSIONS, "fs.read", "absent.txt", Effect.ALLOW),  # nothing there: the tool says so
    (PERMISSIONS, "fs.list", "src", Effect.ALLOW),  # a directory is not hard-linked
    (PERMISSIONS, "fs.read", ".env", Effect.ASK),
    (EXAMPLES / "read-only", "fs.read", "notes.txt", Effect.ASK),
    (EXAMPLES / "read-only", "fs.read", "to-notes", Effect.ASK),
    (EXAMPLES / "read-only", "fs.read", "src/app.py", Effect.ALLOW),
    (EXAMPLES / "read-only", "fs.read", ".env", Effect.DENY),
    (EXAMPLES / "mcp-desktop", "mcp.filesystem.read_text_file", "notes.txt", Effect.ASK),
    (EXAMPLES / "mcp-desktop", "mcp.filesystem.read_file", "to-notes", Effect.ASK),
    (EXAMPLES / "mcp-desktop", "mcp.filesystem.read_text_file", "src/app.py", Effect.ALLOW),
    (EXAMPLES / "mcp-desktop", "mcp.filesystem.list_directory", "src", Effect.ALLOW),
]


@pytest.mark.parametrize(("policy", "tool", "path", "effect"), CASES, ids=lambda v: getattr(v, "name", v))
def test_shipped_policies_ask_before_reading_a_file_with_other_names(
    files: Path, policy: Path, tool: str, path: str, effect: Effect
) -> None:
    engine = PolicyEngine.load(policy, workspace=files)
    assert decide(engine, tool, path=path).effect is effect


@pytest.mark.parametrize(
    ("path", "effect"),
    [
        ("notes.txt", Effect.DENY),
        (".env", Effect.DENY),  # the other name has the links too
        ("to-notes", Effect.DENY),  # a symlink: its target's links count
        ("src/app.py", Effect.ALLOW),
        ("src", Effect.ALLOW),  # a directory (its nlink counts subdirectories) is not hard-linked
        ("absent", Effect.ALLOW),
        (None, Effect.ALLOW),  # null: no match, as path()
        (3, Effect.DENY),  # a descriptor: cannot tell, as path()
    ],
)
def test_hard_linked_reads_like_path(engine_for, files: Path, path: object, effect: Effect) -> None:  # type: ignore[no-untyped-def]
    (files / "src" / "sub").mkdir()  # src now has nlink 3
    engine = engine_for("p, *, t, *, allow\np, *, t, hard_linked(path), deny")
    assert decide(engine, "t", path=path).effect is effect


def test_hard_linked_hands_the_tool_the_resolved_path(engine_for, files: Path) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for("p, *, t, *, allow\np, *, t, hard_linked(path), deny")
    assert decide(engine, "t", path="to-app").arguments == {"path": str(files / "src" / "app.py")}
    assert decide(engine, "t").effect is Effect.ALLOW  # missing: no match
    (files / "loop").symlink_to(files / "loop")
    assert decide(engine, "t", path="loop").effect is Effect.DENY  # unresolvable: the call is denied


def test_an_unreadable_file_is_cannot_tell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EACCES, EIO...: not "no other names" (fails closed: an ask or deny rule matches)."""
    (tmp_path / "f").write_text("x")

    def refuse(path: str) -> os.stat_result:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "lstat", refuse)
    with pytest.raises(CannotTell):
        has_other_names(str(tmp_path / "f"), {})


def test_absent_paths_have_no_other_names(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert not has_other_names(str(tmp_path / "absent"), {})
    assert not has_other_names(str(tmp_path / "file" / "below"), {})  # ENOTDIR
    assert not has_other_names(str(tmp_path / "file"), {})

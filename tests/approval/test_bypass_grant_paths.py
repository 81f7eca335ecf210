"""An exact-call grant covers the call the approver saw: its paths naming the files they named then
(found by the red team). The grant pinned the argument text only (``eq(*, ...)``), so once
``notes.md`` was swapped for a symlink to a file outside the workspace, or the same agent ran in
another workspace, the granted allow settled the ``ask`` for a file the approver never saw, while
a single approval is refused in that case (``VerdictChanged``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalRequest, Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """
p, *, fs.write, *, ask
p, *, fs.write, path(path, "/etc/**"), deny
p, *, mail.send, *, ask
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "notes.md").write_text("old\n")
    return ws


@pytest.fixture
def engine_in(make_policy: Callable[..., Path], home: Path) -> Callable[[Path], PolicyEngine]:
    policy = make_policy(RULES)
    return lambda ws: PolicyEngine.load(policy, workspace=ws, grants=grant_source(home))


def effect(engine: PolicyEngine, tool: str, **arguments: Any) -> Effect:
    engine.refresh_due()
    return engine.decide(ToolCall(agent="coder", tool=tool, arguments=arguments)).effect


def approve_always(home: Path, engine: PolicyEngine, tool: str, arguments: dict[str, Any]) -> Any:
    """A real request as the guard queues it (with the decision the engine made), approved always."""
    call = ToolCall(agent="coder", tool=tool, arguments=arguments)
    request = ApprovalRequest(call=call, decision=engine.decide(call), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        return ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.CALL)[1]


@pytest.mark.parametrize("as_written", ["notes.md", "./notes.md", "absolute"])
def test_a_symlink_swapped_in_is_not_covered(
    home: Path,
    workspace: Path,
    tmp_path: Path,
    engine_in: Callable[[Path], PolicyEngine],
    as_written: str,
) -> None:
    path = str(workspace / "notes.md") if as_written == "absolute" else as_written
    engine = engine_in(workspace)
    approve_always(home, engine, "fs.write", {"path": path, "content": "x"})
    assert effect(engine, "fs.write", path=path, content="x") is Effect.ALLOW
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "authorized_keys").write_text("")
    (workspace / "notes.md").unlink()
    (workspace / "notes.md").symlink_to(outside / "authorized_keys")
    assert effect(engine, "fs.write", path=path, content="x") is Effect.ASK
    (workspace / "notes.md").unlink()
    (workspace / "notes.md").write_text("back\n")
    assert effect(engine, "fs.write", path=path, content="x") is Effect.ALLOW


def test_the_same_text_in_another_workspace_is_not_covered(
    home: Path, workspace: Path, tmp_path: Path, engine_in: Callable[[Path], PolicyEngine]
) -> None:
    approve_always(home, engine_in(workspace), "fs.write", {"path": "notes.md", "content": "x"})
    other = tmp_path / "other"
    other.mkdir()
    assert effect(engine_in(other), "fs.write", path="notes.md", content="x") is Effect.ASK
    assert effect(engine_in(workspace), "fs.write", path="notes.md", content="x") is Effect.ALLOW


def test_calls_without_resolved_paths_are_granted_as_before(
    home: Path, workspace: Path, engine_in: Callable[[Path], PolicyEngine]
) -> None:
    engine = engine_in(workspace)
    grant = approve_always(home, engine, "mail.send", {"to": "bob@example.com", "n": 5})
    assert grant.condition.startswith("eq(*, ")
    assert "path(" not in grant.condition
    assert effect(engine, "mail.send", to="bob@example.com", n=5) is Effect.ALLOW


def test_a_resolved_path_the_rule_line_cannot_hold_is_refused(
    home: Path, workspace: Path, engine_in: Callable[[Path], PolicyEngine]
) -> None:
    (workspace / "a#b").mkdir()
    engine = engine_in(workspace)
    with pytest.raises(ApprovalError, match="cannot be enforced"):
        approve_always(home, engine, "fs.write", {"path": "a#b/x.md", "content": "x"})
    assert effect(engine, "fs.write", path="a#b/x.md", content="x") is Effect.ASK

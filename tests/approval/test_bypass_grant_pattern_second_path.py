"""A pattern grant constrains one argument; a second path argument of the same call is left open
(found by the red team; open).

``approve always`` with the pattern scope writes ``path(path, "<ws>/src/**")``: the call's first key
argument only. For a tool with two paths (an MCP server's ``copy_file(path, destination)``), the
grant then allows a copy of a file under ``src`` to anywhere, ``~/.ssh/authorized_keys`` included,
though the approver saw a destination inside the workspace. Closing it needs the grant to constrain
every argument the policy reads as a path (or pin the others), which the grant code cannot see today
(the decision records resolved values, not which arguments are paths).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.models import ApprovalRequest, Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """
p, *, mcp.files.copy_file, *, ask
p, *, mcp.files.copy_file, path(destination, "/etc/**"), deny
"""


@pytest.mark.xfail(
    strict=True, reason="open: a pattern grant constrains one path argument; a second one stays open"
)
def test_a_pattern_grant_does_not_cover_a_second_path_outside_it(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    engine = PolicyEngine.load(make_policy(RULES), workspace=workspace, grants=grant_source(home))
    seen = {"path": str(workspace / "src" / "a.txt"), "destination": str(workspace / "src" / "b.txt")}
    call = ToolCall(agent="coder", tool="mcp.files.copy_file", arguments=seen)
    request = ApprovalRequest(call=call, decision=engine.decide(call), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        grant = ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.PATTERN)[1]
    assert grant.condition.startswith("path(path, ")  # the suggested pattern: the parent folder
    assert grant.condition.endswith('/src/**")')
    engine.refresh_due()
    assert engine.decide(call).effect is Effect.ALLOW  # what alice granted
    away = {**seen, "destination": str(Path.home() / ".ssh" / "authorized_keys")}
    assert engine.decide(call.model_copy(update={"arguments": away})).effect is Effect.ASK

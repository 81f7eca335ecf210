"""A pattern grant constrained one argument; a second path argument of the same call was left open
(found by the red team).

``approve always`` with the pattern scope wrote ``path(path, "<ws>/src/**")``: the call's first key
argument only. For a tool with two paths (an MCP server's ``copy_file(path, destination)``), the
grant then allowed a copy of a file under ``src`` to anywhere, ``~/.ssh/authorized_keys`` included,
though the approver saw a destination inside the workspace. The decision now names the arguments
the policy reads with ``path()``, and a pattern grant pins each of them but its key argument to the
file it named when approved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.models import ApprovalRequest, Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """
p, *, mcp.files.copy_file, *, ask
p, *, mcp.files.copy_file, path(destination, "/etc/**"), deny
"""


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
    assert '/src/**") && path(destination, "' in grant.condition  # the destination pinned
    engine.refresh_due()
    assert engine.decide(call).effect is Effect.ALLOW  # what alice granted
    other_source = {**seen, "path": str(workspace / "src" / "c.txt")}
    assert engine.decide(call.model_copy(update={"arguments": other_source})).effect is Effect.ALLOW
    away = {**seen, "destination": str(Path.home() / ".ssh" / "authorized_keys")}
    assert engine.decide(call.model_copy(update={"arguments": away})).effect is Effect.ASK
    no_destination = {"path": seen["path"]}
    assert engine.decide(call.model_copy(update={"arguments": no_destination})).effect is Effect.ASK


def test_an_exact_call_grant_pins_every_path_the_policy_reads(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    """``destination`` is no path-named argument, and absolute and symlink-free when approved (so not
    rewritten by the decision): the exact-call grant pinned only its text, and a symlink put there
    afterwards was covered."""
    home, workspace, outside = tmp_path / "home", tmp_path / "ws", tmp_path / "outside"
    (workspace / "src").mkdir(parents=True)
    outside.mkdir()
    engine = PolicyEngine.load(make_policy(RULES), workspace=workspace, grants=grant_source(home))
    seen = {"path": str(workspace / "src" / "a.txt"), "destination": str(workspace / "src" / "b.txt")}
    call = ToolCall(agent="coder", tool="mcp.files.copy_file", arguments=seen)
    request = ApprovalRequest(call=call, decision=engine.decide(call), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        grant = ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.CALL)[1]
    assert "path(destination, " in grant.condition
    engine.refresh_due()
    assert engine.decide(call).effect is Effect.ALLOW
    (workspace / "src" / "b.txt").symlink_to(outside / "authorized_keys")
    assert engine.decide(call).effect is Effect.ASK


def test_a_pattern_grant_for_a_call_without_the_second_path_does_not_cover_one(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    """The approved call left ``destination`` out (or null, as a schema default fills it in): the
    grant pinned nothing for it, so it covered a later call that copies to ``~/.ssh``. A path
    argument the approved call did not have stays absent (or null) under the grant."""
    home, workspace = tmp_path / "home", tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    engine = PolicyEngine.load(make_policy(RULES), workspace=workspace, grants=grant_source(home))
    approved: list[dict[str, Any]] = [
        {"path": str(workspace / "src" / "a.txt")},
        {"path": str(workspace / "src" / "a.txt"), "destination": None},
    ]
    for n, seen in enumerate(approved):
        call = ToolCall(agent=f"coder{n}", tool="mcp.files.copy_file", arguments=seen)
        request = ApprovalRequest(call=call, decision=engine.decide(call), timeout_s=60)
        with SqliteApprovalStore(home) as store:
            queued = store.submit(request, Owner.current())
            ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.PATTERN)
        engine.refresh_due()
        assert engine.decide(call).effect is Effect.ALLOW  # what alice granted
        destinations: list[Any] = [str(Path.home() / ".ssh" / "authorized_keys"), "b.txt", ["x"], "/"]
        for destination in destinations:
            away = {**seen, "destination": destination}
            assert engine.decide(call.model_copy(update={"arguments": away})).effect is not Effect.ALLOW, (
                destination
            )


NESTED_RULES = """
p, *, mcp.files.sync, *, ask
p, *, mcp.files.sync, path(options.destination, "/etc/**"), deny
"""


@pytest.mark.parametrize("scope", [GrantScope.PATTERN, GrantScope.CALL])
def test_a_grant_pins_a_path_the_policy_reads_inside_an_object(
    scope: GrantScope, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    """``path(options.destination, ...)``: Decision.path_arguments named top-level arguments only, so
    a pattern grant left ``options.destination`` open (a later sync to ``~/.ssh`` was covered) and an
    exact-call grant pinned its text only (a symlink put there after the approval was covered)."""
    home, workspace, outside = tmp_path / "home", tmp_path / "ws", tmp_path / "outside"
    (workspace / "src").mkdir(parents=True)
    outside.mkdir()
    engine = PolicyEngine.load(make_policy(NESTED_RULES), workspace=workspace, grants=grant_source(home))
    target = workspace / "out"
    seen: dict[str, Any] = {"path": str(workspace / "src" / "a"), "options": {"destination": str(target)}}
    call = ToolCall(agent="coder", tool="mcp.files.sync", arguments=seen)
    request = ApprovalRequest(call=call, decision=engine.decide(call), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        ApprovalDesk(store, approver="alice").approve_always(queued.id, scope)
    engine.refresh_due()
    assert engine.decide(call).effect is Effect.ALLOW  # what alice granted
    away = {**seen, "options": {"destination": str(Path.home() / ".ssh")}}
    assert engine.decide(call.model_copy(update={"arguments": away})).effect is not Effect.ALLOW
    target.symlink_to(outside)  # the same text, now another folder
    assert engine.decide(call).effect is not Effect.ALLOW

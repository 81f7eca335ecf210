"""The guard's structure and plug-in points: declared Protocols, the context module, the registry,
``Guard.from_settings``; positional arguments and the call context of async tools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import (
    AsyncApprover,
    Closeable,
    Decision,
    Effect,
    Guard,
    PolicyDenied,
    RefreshablePolicy,
    Settings,
    ToolCall,
    ToolFailed,
    current_call,
)
from agentguard.approval import QueueApprover, SqliteApprovalStore
from agentguard.audit import AuditLog
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

RULES = """
p, *, echo, *, allow
p, *, close_ticket, *, allow
p, *, where, *, allow
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", workspace=tmp_path)


@pytest.fixture
def guard(make_policy: Callable[[str], Path], settings: Settings) -> Guard:
    return Guard(make_policy(RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)


def test_the_shipped_parts_satisfy_the_declared_protocols(settings: Settings, tmp_path: Path) -> None:
    engine = PolicyEngine.from_settings(settings)
    assert isinstance(engine, RefreshablePolicy)
    store = SqliteApprovalStore(tmp_path / "home")
    try:
        assert isinstance(QueueApprover(store), AsyncApprover)
    finally:
        store.close()
    assert not isinstance(ScriptedApprover(), AsyncApprover)
    with AuditLog(tmp_path / "audit.jsonl") as log:
        assert isinstance(log, Closeable)
    assert isinstance(MemoryAudit(), Closeable)


class CountingPolicy:
    """A refreshable policy that counts how often the guard asked it to look for changes."""

    def __init__(self) -> None:
        self.checks = 0

    def refresh(self) -> bool:
        return False

    def refresh_due(self) -> bool:
        self.checks += 1
        return False

    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


class MisspeltPolicy(CountingPolicy):
    """``refresh_due`` misspelt: not a RefreshablePolicy, so the guard never calls it."""

    def refresh_due(self) -> bool:  # pragma: no cover - must not be called through the protocol
        raise AssertionError("not called")

    refresh = None  # type: ignore[assignment]


def test_a_refreshable_policy_is_checked_before_every_decision(settings: Settings) -> None:
    policy = CountingPolicy()
    guard = Guard(policy, approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)
    guard.register("echo", lambda text: text)
    guard.call("echo", {"text": "a"})
    guard.call("echo", {"text": "b"})
    assert policy.checks == 2
    assert not isinstance(MisspeltPolicy(), RefreshablePolicy)


def test_from_settings_uses_the_settings_policy_and_grants(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", workspace=tmp_path, policy_dir=make_policy(RULES))
    with Guard.from_settings(settings, approver=ScriptedApprover()) as guard:
        assert isinstance(guard.policy, PolicyEngine)
        assert guard.policy.directory == settings.policy_dir
        assert guard.policy.extra_files == ()  # grants come from the approval store, not grants.csv
        assert guard.policy.grants is not None
        assert guard.policy.grants.label == str(settings.grants_path)
        assert isinstance(guard.audit, AuditLog)
        assert guard.audit.path == settings.audit_path


def test_a_policy_path_keeps_the_grants_file(make_policy: Callable[[str], Path], settings: Settings) -> None:
    guard = Guard(make_policy(RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)
    assert isinstance(guard.policy, PolicyEngine)
    assert guard.policy.grants is not None
    assert guard.policy.grants.label == str(settings.home / "grants.csv")


def test_an_edited_call_that_a_rule_denies_has_one_decision_record_each(
    make_policy: Callable[[str], Path], settings: Settings
) -> None:
    from agentguard import ApprovalResult, ApprovalStatus

    rules = 'p, *, write, *, ask\np, *, write, path(path, "/etc/**"), deny\n'
    audit = MemoryAudit()
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED, approver="ops", channel="t", edited_arguments={"path": "/etc/x"}
    )
    guard = Guard(make_policy(rules), approver=ScriptedApprover([edit]), audit=audit, settings=settings)
    guard.register("write", lambda path: path)
    with pytest.raises(PolicyDenied, match=r"\(edited\) denied"):
        guard.call("write", {"path": "a.txt"})
    decided = [r for r in audit.records if r["event"] == "policy.decided"]
    assert [r["effect"] for r in decided] == ["ask", "deny"]


def test_a_decorated_tool_takes_positional_arguments(guard: Guard) -> None:
    audit = guard.audit
    assert isinstance(audit, MemoryAudit)

    @guard.tool
    def close_ticket(ticket_id: int, note: str = "") -> str:
        return f"closed {ticket_id}{note}"

    assert close_ticket(7) == "closed 7"
    assert close_ticket(8, "!") == "closed 8!"
    assert close_ticket(9, note="?") == "closed 9?"
    received = [r["arguments"] for r in audit.records if r["event"] == "call.received"]
    assert received == [{"ticket_id": 7}, {"ticket_id": 8, "note": "!"}, {"ticket_id": 9, "note": "?"}]


def test_a_decorated_async_tool_takes_positional_arguments(guard: Guard) -> None:
    @guard.tool
    async def close_ticket(ticket_id: int) -> str:
        return f"closed {ticket_id}"

    assert asyncio.run(close_ticket(7)) == "closed 7"


def test_a_call_that_does_not_fit_the_signature_is_refused(guard: Guard) -> None:
    from agentguard import InvalidArguments

    ran: list[int] = []

    @guard.tool
    def close_ticket(ticket_id: int) -> None:
        ran.append(ticket_id)

    with pytest.raises(InvalidArguments, match="too many positional"):
        close_ticket(7, 8)  # type: ignore[call-arg]
    with pytest.raises(InvalidArguments, match="multiple values"):
        close_ticket(7, ticket_id=8)  # type: ignore[misc]
    assert ran == []
    audit = guard.audit
    assert isinstance(audit, MemoryAudit)
    assert audit.events == ["call.received", "call.rejected"] * 2
    assert audit.records[0]["tool"] == "close_ticket"
    assert audit.records[0]["positional"] == 2


def test_wrap_binds_positional_arguments_and_spreads_var_keywords(guard: Guard) -> None:
    def echo(text: str, **extra: Any) -> str:
        return text + "".join(f" {k}={v}" for k, v in sorted(extra.items()))

    wrapped = guard.wrap({"echo": echo})["echo"]
    assert wrapped("hi", a=1) == "hi a=1"


def test_an_async_tool_called_from_a_running_loop_sees_its_call(guard: Guard) -> None:
    seen: list[Any] = []

    async def where() -> str:
        ctx = current_call()
        seen.append(ctx)
        return ctx.call.tool if ctx is not None else "nowhere"

    guard.register("where", where)

    async def main() -> Any:
        return guard.call("where", {})  # sync call from inside a running event loop

    assert asyncio.run(main()) == "where"
    assert seen[0] is not None
    assert seen[0].call.tool == "where"


def test_invoke_runs_instead_of_the_registered_tool_with_the_decided_arguments(
    make_policy: Callable[[str], Path], settings: Settings
) -> None:
    from agentguard import ApprovalResult, ApprovalStatus

    audit = MemoryAudit()
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED, approver="ops", channel="t", edited_arguments={"n": 2}
    )
    guard = Guard(
        make_policy("p, *, count, *, ask\n"),
        approver=ScriptedApprover([edit, "approve"]),
        audit=audit,
        settings=settings,
    )
    guard.register("count", lambda n: pytest.fail("the registered callable must not run"))
    seen: list[tuple[int, str | None]] = []

    def invoke(n: int) -> int:
        ctx = current_call()
        seen.append((n, ctx.call.tool if ctx else None))
        return n * 10

    assert guard.call("count", {"n": 1}, invoke=invoke) == 20  # the approver's edit is what runs
    assert seen == [(2, "count")]

    def broken(n: int) -> int:
        raise OSError("upstream gone")

    with pytest.raises(ToolFailed, match="upstream gone"):
        guard.call("count", {"n": 3}, invoke=broken)
    assert audit.events[-1] == "execution.failed"


def test_acall_awaits_an_async_invoke_and_threads_a_sync_one(guard: Guard) -> None:
    guard.register("echo", lambda text: pytest.fail("the registered callable must not run"))

    async def ainvoke(text: str) -> str:
        ctx = current_call()
        return f"async {text} {ctx.call.tool if ctx else None}"

    def sinvoke(text: str) -> str:
        ctx = current_call()
        return f"sync {text} {ctx.call.tool if ctx else None}"

    async def main() -> list[str]:
        return [
            await guard.acall("echo", {"text": "a"}, invoke=ainvoke),
            await guard.acall("echo", {"text": "b"}, invoke=sinvoke),
        ]

    assert asyncio.run(main()) == ["async a echo", "sync b echo"]


def test_reject_records_the_refused_call_in_the_guards_shape(guard: Guard) -> None:
    from agentguard import InvalidArguments

    audit = guard.audit
    assert isinstance(audit, MemoryAudit)
    error = InvalidArguments("invalid arguments for mcp.x.y: too big", tool="mcp.x.y")
    guard.reject("mcp.x.y", None, error, framework="mcp", session="s1", argument_bytes=2_000_000)
    received, rejected = audit.records
    assert received["event"] == "call.received"
    assert received["arguments"] is None
    assert received["argument_bytes"] == 2_000_000
    assert received["session"] == "s1"
    assert rejected["event"] == "call.rejected"
    assert rejected["call_id"] == received["call_id"]
    assert rejected["error"]["code"] == error.code


def test_value_objects_share_one_frozen_config() -> None:
    from pydantic import ValidationError

    from agentguard.audit import VerifyReport
    from agentguard.models import FrozenModel
    from agentguard.policy import LintFinding, PolicyCase
    from agentguard.sandbox_api import SandboxProfile, SandboxResult, SandboxSettings
    from agentguard.settings import AuditSettings

    for model in (ToolCall, Decision, VerifyReport, LintFinding, PolicyCase, SandboxProfile, SandboxResult):
        assert issubclass(model, FrozenModel), model
    assert issubclass(SandboxSettings, FrozenModel)
    assert issubclass(AuditSettings, FrozenModel)
    with pytest.raises(ValidationError):
        SandboxProfile(memory_mb=64, swap=True)  # type: ignore[call-arg]
    profile = SandboxProfile()
    with pytest.raises(ValidationError):
        profile.network = True  # type: ignore[misc]


def test_a_failure_is_audited_inside_its_call_which_is_cleared_after(guard: Guard) -> None:
    """The execution bracket audits a tool's failure while ``current_call()`` is still the failing call,
    then clears it, for an error and for an interrupt alike."""
    seen: list[tuple[str, str | None]] = []
    audit = guard.audit
    assert isinstance(audit, MemoryAudit)
    plain_record = audit.record

    def record(event: str, /, **fields: Any) -> None:
        ctx = current_call()
        seen.append((event, ctx.call.tool if ctx is not None else None))
        plain_record(event, **fields)

    audit.record = record  # type: ignore[method-assign]

    def broken(**_: Any) -> None:
        raise ValueError("no")

    def interrupted(**_: Any) -> None:
        raise KeyboardInterrupt

    guard.register("where", lambda: None)
    for tool, error in ((broken, ToolFailed), (interrupted, KeyboardInterrupt)):
        seen.clear()
        with pytest.raises(error):
            guard.call("where", {}, invoke=tool)
        assert seen[-1] == ("execution.failed", "where")
        assert ("execution.started", None) in seen  # written before the bracket sets the call
        assert current_call() is None

"""The pipeline end to end through the public API, with real pycasbin and real audit logs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import (
    ApprovalDenied,
    ApprovalResult,
    ApprovalStatus,
    ApprovalTimeout,
    AuditError,
    Effect,
    Guard,
    InvalidArguments,
    PolicyDenied,
    Settings,
    ToolCall,
    ToolFailed,
    UnknownTool,
)
from agentguard.testing import MemoryAudit, ScriptedApprover

RULES = """
p, *, echo, *, allow
p, *, aecho, *, allow
p, *, boom, *, allow
p, *, add, *, allow
p, *, write, *, ask
p, *, secret.*, *, deny
p, *, write, path(path, "/etc/**"), deny
"""


@pytest.fixture
def policy_dir(make_policy: Callable[[str], Path]) -> Path:
    return make_policy(RULES)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", workspace=tmp_path)


def make_guard(policy_dir: Path, settings: Settings, approver: Any = None, audit: Any = None) -> Guard:
    guard = Guard(
        policy_dir,
        approver=approver or ScriptedApprover(),
        audit=audit if audit is not None else MemoryAudit(),
        settings=settings,
        agent="tester",
    )
    ran: list[tuple[str, Any]] = []
    guard.ran = ran  # type: ignore[attr-defined]

    def echo(text: str) -> str:
        ran.append(("echo", text))
        return text

    async def aecho(text: str) -> str:
        await asyncio.sleep(0)
        ran.append(("aecho", text))
        return text.upper()

    def boom() -> None:
        raise ValueError("kaboom")

    def add(a: int, b: int = 1) -> int:
        return a + b

    def write(path: str, content: str) -> str:
        ran.append(("write", path, content))  # type: ignore[arg-type]
        return f"wrote {path}"

    def secret_read(name: str) -> str:
        ran.append(("secret.read", name))
        return "s3cr3t"

    guard.wrap(
        {"echo": echo, "aecho": aecho, "boom": boom, "add": add, "write": write, "secret.read": secret_read}
    )
    return guard


def events(audit: MemoryAudit) -> list[str]:
    return audit.events


def test_allowed_call_runs_and_every_stage_is_audited(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    assert guard.call("echo", {"text": "hi"}) == "hi"
    assert events(audit) == ["call.received", "policy.decided", "execution.started", "execution.finished"]
    assert len({r["call_id"] for r in audit.records}) == 1
    decided = audit.records[1]
    assert decided["effect"] == "allow"
    assert decided["rule"].endswith("policy.csv:1")
    assert audit.records[-1]["result"] == "hi"


def test_denied_call_never_runs(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    with pytest.raises(PolicyDenied) as info:
        guard.call("secret.read", {"name": "db"})
    assert guard.ran == []  # type: ignore[attr-defined]
    assert info.value.data["rule"].endswith("policy.csv:6")
    assert events(audit) == ["call.received", "policy.decided"]
    assert audit.records[1]["effect"] == "deny"


def test_no_rule_matched_is_a_named_deny(make_policy: Callable[[str], Path], settings: Settings) -> None:
    guard = Guard(make_policy("p, *, other, *, allow"), audit=MemoryAudit(), settings=settings)
    guard.register("lonely", lambda: "x")
    with pytest.raises(PolicyDenied) as info:
        guard.call("lonely", {})
    assert info.value.data["rule"] == "no-rule-matched"


def test_ask_then_approve_runs(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    approver = ScriptedApprover(["approve"])
    guard = make_guard(policy_dir, settings, approver=approver, audit=audit)
    # The tool gets the path the policy resolved (the rule reads it with path()), not "a.txt".
    assert guard.call("write", {"path": "a.txt", "content": "x"}) == f"wrote {settings.workspace / 'a.txt'}"
    assert events(audit) == [
        "call.received",
        "policy.decided",
        "approval.requested",
        "approval.resolved",
        "execution.started",
        "execution.finished",
    ]
    resolved = audit.records[3]
    assert resolved["status"] == "approved"
    assert resolved["approver"] == "scripted"
    assert resolved["edited"] is False
    assert approver.requests[0].call.arguments == {"path": "a.txt", "content": "x"}


def test_ask_then_deny_gives_reason_to_agent(policy_dir: Path, settings: Settings) -> None:
    guard = make_guard(policy_dir, settings, approver=ScriptedApprover(["deny: not on a Friday"]))
    with pytest.raises(ApprovalDenied) as info:
        guard.call("write", {"path": "a.txt", "content": "x"})
    assert "not on a Friday" in str(info.value)
    assert guard.ran == []  # type: ignore[attr-defined]


def test_ask_timeout_denies(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, approver=ScriptedApprover(["timeout"]), audit=audit)
    with pytest.raises(ApprovalTimeout):
        guard.call("write", {"path": "a.txt", "content": "x"})
    assert audit.records[3]["status"] == "timeout"
    assert guard.ran == []  # type: ignore[attr-defined]


def test_edited_arguments_run_and_both_versions_are_audited(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED,
        approver="ops",
        channel="test",
        edited_arguments={"path": "safe.txt", "content": "reviewed"},
    )
    guard = make_guard(policy_dir, settings, approver=ScriptedApprover([edit]), audit=audit)
    safe = settings.workspace / "safe.txt"
    assert guard.call("write", {"path": "a.txt", "content": "x"}) == f"wrote {safe}"
    resolved = audit.records[3]
    assert resolved["edited"] is True
    assert resolved["original_arguments"] == {"path": "a.txt", "content": "x"}
    assert resolved["arguments"] == {"path": "safe.txt", "content": "reviewed"}
    assert guard.ran == [("write", str(settings.workspace / "safe.txt"), "reviewed")]  # type: ignore[attr-defined]


def test_an_edit_cannot_override_a_deny_rule(policy_dir: Path, settings: Settings) -> None:
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED,
        approver="ops",
        channel="test",
        edited_arguments={"path": "/etc/cron.d/x", "content": "x"},
    )
    guard = make_guard(policy_dir, settings, approver=ScriptedApprover([edit]))
    with pytest.raises(PolicyDenied):
        guard.call("write", {"path": "a.txt", "content": "x"})
    assert guard.ran == []  # type: ignore[attr-defined]


def test_bad_arguments_are_rejected_before_the_policy_and_audited(
    policy_dir: Path, settings: Settings
) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    with pytest.raises(InvalidArguments) as info:
        guard.call("add", {"a": "not a number"})
    assert "a:" in str(info.value)
    with pytest.raises(InvalidArguments):
        guard.call("echo", {"text": "x", "extra": 1})
    with pytest.raises(InvalidArguments):
        guard.call("echo", {})
    assert events(audit).count("call.rejected") == 3
    assert "policy.decided" not in events(audit)
    assert guard.call("add", {"a": "2"}) == 3  # lax coercion of a numeric string, default b


def test_unknown_and_lookalike_tools_are_rejected(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    assert guard.call("ECHO", {"text": "case"}) == "case"
    for name in ["еcho", "ec\u200bho", "ｅｃｈｏ", "delete", ""]:
        with pytest.raises(UnknownTool):
            guard.call(name, {"text": "x"})
    assert guard.ran == [("echo", "case")]  # type: ignore[attr-defined]
    assert events(audit).count("call.rejected") == 5


def test_tool_exception_is_tool_failed_and_audited(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    with pytest.raises(ToolFailed) as info:
        guard.call("boom", {})
    assert isinstance(info.value.__cause__, ValueError)
    assert audit.records[-1]["event"] == "execution.failed"
    assert audit.records[-1]["error"]["code"] == "tool.failed"


def test_approver_crash_fails_closed(policy_dir: Path, settings: Settings) -> None:
    def broken(request: Any) -> ApprovalResult:
        raise ConnectionError("queue database is gone")

    guard = make_guard(policy_dir, settings, approver=ScriptedApprover(broken))
    with pytest.raises(ApprovalDenied) as info:
        guard.call("write", {"path": "a.txt", "content": "x"})
    assert "queue database is gone" in str(info.value)
    assert guard.ran == []  # type: ignore[attr-defined]


class ExplodingPolicy:
    def decide(self, call: ToolCall) -> Any:
        raise RuntimeError("index corrupted")


def test_policy_crash_fails_closed(settings: Settings) -> None:
    audit = MemoryAudit()
    guard = Guard(ExplodingPolicy(), audit=audit, settings=settings)
    ran: list[int] = []
    guard.register("t", lambda: ran.append(1))
    with pytest.raises(PolicyDenied) as info:
        guard.call("t", {})
    assert "index corrupted" in str(info.value)
    assert ran == []
    assert audit.records[1]["effect"] == "deny"


class BrokenAudit:
    def record(self, event: str, /, **fields: Any) -> None:
        raise OSError("disk full")


def test_unwritable_audit_log_stops_the_call(policy_dir: Path, settings: Settings) -> None:
    guard = make_guard(policy_dir, settings, audit=BrokenAudit())
    with pytest.raises(AuditError):
        guard.call("echo", {"text": "x"})
    assert guard.ran == []  # type: ignore[attr-defined]


def test_no_tty_and_no_approver_means_ask_is_deny(policy_dir: Path, settings: Settings) -> None:
    guard = Guard(policy_dir, audit=MemoryAudit(), settings=settings)  # pytest's stdin is not a TTY
    guard.register("write", lambda path, content: "ran")
    with pytest.raises(ApprovalDenied) as info:
        guard.call("write", {"path": "a", "content": "b"})
    assert "not a TTY" in str(info.value)


def test_decorator_sync_and_async(policy_dir: Path, settings: Settings) -> None:
    guard = Guard(policy_dir, approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)

    @guard.tool(name="echo")
    def echo(text: str) -> str:
        return text

    @guard.tool(name="aecho")
    async def aecho(text: str) -> str:
        return text * 2

    assert echo(text="a") == "a"
    assert asyncio.run(aecho(text="b")) == "bb"
    assert guard.call("aecho", {"text": "c"}) == "cc"  # an async tool from sync code
    assert asyncio.run(guard.acall("echo", {"text": "d"})) == "d"  # a sync tool from async code


def test_async_approval_does_not_block_the_event_loop(policy_dir: Path, settings: Settings) -> None:
    gate = threading.Event()

    def slow(request: Any) -> str:
        assert gate.wait(10)
        return "approve"

    guard = make_guard(policy_dir, settings, approver=ScriptedApprover(slow))

    async def main() -> list[Any]:
        pending = asyncio.ensure_future(guard.acall("write", {"path": "p", "content": "c"}))
        other = await guard.acall("aecho", {"text": "meanwhile"})  # runs while the approval waits
        gate.set()
        return [other, await pending]

    assert asyncio.run(main()) == ["MEANWHILE", f"wrote {settings.workspace / 'p'}"]


def test_decide_is_a_dry_run(policy_dir: Path, settings: Settings) -> None:
    audit = MemoryAudit()
    guard = make_guard(policy_dir, settings, audit=audit)
    decision = guard.decide("write", {"path": "/etc/passwd", "content": ""})
    assert decision.effect is Effect.DENY
    assert decision.rule is not None
    assert decision.rule.line == 7
    assert audit.records == []


def test_real_audit_log_chain_verifies(policy_dir: Path, settings: Settings, tmp_path: Path) -> None:
    from agentguard.audit import verify

    log = tmp_path / "audit.jsonl"
    guard = make_guard(policy_dir, settings, audit=log, approver=ScriptedApprover(["deny: no"]))
    guard.call("echo", {"text": "hello"})
    with pytest.raises(PolicyDenied):
        guard.call("secret.read", {"name": "x"})
    with pytest.raises(ApprovalDenied):
        guard.call("write", {"path": "a", "content": "b"})
    guard.close()
    report = verify(log)
    assert report.ok
    assert report.records_verified == 4 + 2 + 4


class AsyncOnlyApprover:
    """Answers only through ``arequest``; ``request`` would block a thread per waiting call."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    def request(self, request: Any) -> ApprovalResult:
        raise AssertionError("the async path must not use a thread per approval")

    async def arequest(self, request: Any) -> ApprovalResult:
        assert self.gate is not None
        self.waiting += 1
        await self.gate.wait()
        return ApprovalResult(status=ApprovalStatus.APPROVED, approver="async", channel="test")


def test_many_async_calls_wait_for_approval_without_threads(policy_dir: Path, settings: Settings) -> None:
    approver = AsyncOnlyApprover()
    guard = make_guard(policy_dir, settings, approver=approver)

    async def main() -> list[Any]:
        approver.gate = asyncio.Event()
        calls = [
            asyncio.ensure_future(guard.acall("write", {"path": f"f{i}", "content": "c"})) for i in range(40)
        ]
        while approver.waiting < 40:  # all forty wait at once: more than the default thread pool holds
            await asyncio.sleep(0)
        approver.gate.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [f"wrote {settings.workspace / f'f{i}'}" for i in range(40)]


def test_an_interrupt_inside_a_tool_is_audited_and_propagates_unchanged(
    policy_dir: Path, settings: Settings
) -> None:
    audit = MemoryAudit()
    guard = Guard(policy_dir, approver=ScriptedApprover(), audit=audit, settings=settings)

    def echo(text: str) -> str:
        raise KeyboardInterrupt

    guard.register("echo", echo)
    with pytest.raises(KeyboardInterrupt):
        guard.call("echo", {"text": "x"})
    assert audit.records[-1]["event"] == "execution.failed"
    assert audit.records[-1]["error"]["data"]["exception"] == "KeyboardInterrupt"


def test_a_malformed_call_is_a_clear_error(policy_dir: Path, settings: Settings) -> None:
    guard = make_guard(policy_dir, settings)
    with pytest.raises(InvalidArguments, match="malformed call"):
        guard.call("echo", {"text": "x"}, agent=42)  # type: ignore[arg-type]
    assert guard.ran == []  # type: ignore[attr-defined]

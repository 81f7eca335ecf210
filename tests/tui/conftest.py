"""Fixtures for the TUI: a real queue with fixed ids and fixed times, so screenshots are stable."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentguard.approval import (
    GrantScope,
    Owner,
    QueueApprover,
    RequestState,
    SqliteApprovalStore,
)
from agentguard.approval._grants import new_grant
from agentguard.models import ApprovalRequest, ApprovalResult, Decision, Effect, RuleRef, ToolCall
from agentguard.settings import Settings
from agentguard.tui import ApprovalApp

# Fixed for stable screenshots. The store, the app and grant previews all read this one clock, and the
# requests' owner (this process) is alive, so a CLI on the real clock sweeps none of them.
T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock that only moves when told to."""

    now: datetime = T0

    def epoch(self) -> float:
        return self.now.timestamp()


def request(
    tool: str,
    arguments: dict[str, Any],
    *,
    call_id: str,
    agent: str = "coder",
    line: int = 12,
    profile: str | None = None,
    timeout_s: float = 300.0,
) -> ApprovalRequest:
    rule = RuleRef(file="permissions/policy.csv", line=line, text=f"p, *, {tool}, *, ask")
    decision = Decision(
        effect=Effect.ASK, rule=rule, reason=f"asked by policy.csv:{line}", sandbox_profile=profile
    )
    call = ToolCall(id=call_id, agent=agent, tool=tool, arguments=arguments)
    return ApprovalRequest(call=call, decision=decision, timeout_s=timeout_s)


SEED: tuple[tuple[int, ApprovalRequest], ...] = (
    (
        95,
        request(
            "python.exec",
            {
                "code": "import json, pathlib\n\ndata = json.loads(pathlib.Path('data.json').read_text())\n"
                "print(sum(row['amount'] for row in data))\n"
            },
            call_id="1a2b3c4d" + "0" * 24,
            profile="default",
            line=31,
        ),
    ),
    (
        62,
        request(
            "shell.run", {"command": "git push origin feature/login"}, call_id="5e6f7a8b" + "0" * 24, line=24
        ),
    ),
    (
        40,
        request(
            "fs.write",
            {"path": "/work/project/src/app/settings.py", "content": "DEBUG = False\n"},
            call_id="9c0d1e2f" + "0" * 24,
            agent="refactor-bot",
            line=9,
        ),
    ),
    (
        5,
        request(
            "http.get",
            {"url": "https://docs.python.org/3/library/re.html"},
            call_id="3a4b5c6d" + "0" * 24,
            line=40,
        ),
    ),
)


@dataclass
class Queue:
    home: Path
    store: SqliteApprovalStore
    clock: Clock
    waiting: list[threading.Thread] = field(default_factory=list)
    results: dict[str, ApprovalResult] = field(default_factory=dict)

    def submit(self, req: ApprovalRequest, age_s: int = 0) -> None:
        """Queue ``req`` as if it arrived ``age_s`` seconds before the clock's now (no waiter)."""
        saved = self.clock.now
        self.clock.now = saved - timedelta(seconds=age_s)
        try:
            self.store.submit(req, Owner.current())
        finally:
            self.clock.now = saved

    def wait_for(self, req: ApprovalRequest) -> None:
        """A real waiting call: QueueApprover.request in another thread, result kept in ``results``."""
        approver = QueueApprover(self.store)
        thread = threading.Thread(target=lambda: self.results.__setitem__(req.call.id, approver.request(req)))
        thread.start()
        self.waiting.append(thread)

    def seed(self) -> None:
        for age, req in SEED:
            self.submit(req, age)

    def add_grants(self) -> None:
        fixed = [
            (
                GrantScope.PATTERN,
                ToolCall(agent="coder", tool="fs.write", arguments={"path": "/work/project/src/a.py"}),
                "alice",
                None,
            ),
            (
                GrantScope.TOOL,
                ToolCall(agent="coder", tool="fs.read", arguments={"path": "x"}),
                "bob",
                T0 + timedelta(days=7),
            ),
            (
                GrantScope.PATTERN,
                ToolCall(
                    agent="researcher", tool="http.get", arguments={"url": "https://docs.python.org/3/"}
                ),
                "alice",
                None,
            ),
        ]
        for i, (scope, call, who, expires) in enumerate(fixed):
            grant = new_grant(
                call, scope, created_by=who, now=T0 - timedelta(hours=3 - i), expires_at=expires
            )
            self.store.add_grant(grant.model_copy(update={"id": f"{i + 1:x}" * 8 + "0" * 24}))


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    clock = Clock()
    store = SqliteApprovalStore(tmp_path / "home", poll_interval=0.02, clock=clock.epoch)
    q = Queue(home=tmp_path / "home", store=store, clock=clock)
    yield q
    for req_id in [r.id for r in store.pending()]:
        store.close_unanswered(req_id, RequestState.ABANDONED, "test over")
    for t in q.waiting:
        t.join(10)
    store.close()


AUDIT_RECORDS: list[dict[str, Any]] = [
    {"ts": f"2026-11-29T11:58:{i * 5:02d}.000000Z", "seq": i, **r}
    for i, r in enumerate(
        [
            {"event": "call.received", "agent": "coder", "tool": "fs.read", "call_id": "aa11" * 8},
            {
                "event": "policy.decided",
                "agent": "coder",
                "tool": "fs.read",
                "call_id": "aa11" * 8,
                "effect": "allow",
            },
            {"event": "execution.finished", "agent": "coder", "tool": "fs.read", "call_id": "aa11" * 8},
            {"event": "call.received", "agent": "coder", "tool": "shell.run", "call_id": "bb22" * 8},
            {
                "event": "policy.decided",
                "agent": "coder",
                "tool": "shell.run",
                "call_id": "bb22" * 8,
                "effect": "deny",
            },
            {"event": "call.received", "agent": "refactor-bot", "tool": "fs.write", "call_id": "cc33" * 8},
            {
                "event": "policy.decided",
                "agent": "refactor-bot",
                "tool": "fs.write",
                "call_id": "cc33" * 8,
                "effect": "ask",
            },
            {
                "event": "approval.requested",
                "agent": "refactor-bot",
                "tool": "fs.write",
                "call_id": "cc33" * 8,
            },
            {
                "event": "approval.resolved",
                "agent": "refactor-bot",
                "tool": "fs.write",
                "call_id": "cc33" * 8,
                "status": "approved",
            },
            {"event": "grant.created", "agent": "coder", "tool": "fs.write"},
        ]
    )
]


def make_app(
    queue: Queue, *, fixed_audit: bool = True, audit_path: Path | None = None, **kw: Any
) -> ApprovalApp:
    """The app on the queue with the fixed clock (and, for screenshots, fixed audit records)."""
    extra: dict[str, Any] = {"refresh_s": 0.05, **kw}
    if fixed_audit:
        extra["audit_reader"] = lambda _p, n: AUDIT_RECORDS[-n:]
        extra["audit_verifier"] = lambda _p: "chain: [green]intact[/green], 10 records"
    return ApprovalApp(
        queue.store,
        approver="alice",
        audit_path=audit_path or Path("/var/lib/agentguard/audit.jsonl"),
        profiles=dict(Settings().sandbox.profiles),
        **extra,
    )


Factory = Callable[..., ApprovalApp]

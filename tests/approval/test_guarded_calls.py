"""The whole loop: the lead's Guard with a QueueApprover, real policy engine, answers from CLI and desk."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentguard import ApprovalDenied, ApprovalTimeout, Guard, Settings
from agentguard.approval import AlreadyAnswered, ApprovalDesk, GrantScope, QueueApprover, SqliteApprovalStore
from agentguard.cli import main
from agentguard.settings import ApprovalSettings
from agentguard.testing import MemoryAudit

from .conftest import wait_until

RULES = """
p, *, work, *, ask
p, *, quick, *, ask
p, *, quick, timeout(0.3), ask
"""


@pytest.fixture
def guard_parts(
    make_policy: Callable[[str], Path], tmp_path: Path, store: SqliteApprovalStore, home: Path
) -> tuple[Guard, MemoryAudit]:
    audit = MemoryAudit()
    settings = Settings(home=home, workspace=tmp_path)
    guard = Guard(
        make_policy(RULES), approver=QueueApprover(store), audit=audit, settings=settings, agent="bot"
    )

    @guard.tool(name="work")
    def work(n: int) -> int:
        return n * 10

    @guard.tool(name="quick")
    def quick() -> str:
        return "ran"

    return guard, audit


def test_fifty_concurrent_calls_each_get_their_own_answer(
    guard_parts: tuple[Guard, MemoryAudit], store: SqliteApprovalStore, home: Path
) -> None:
    guard, audit = guard_parts
    outcomes: dict[int, Any] = {}

    def agent_call(i: int) -> None:
        try:
            outcomes[i] = guard.call("work", {"n": i})
        except ApprovalDenied as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=agent_call, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    wait_until(lambda: len(store.pending()) == 50, timeout=30, what="50 queued requests")
    by_n = {q.call.arguments["n"]: q.id for q in store.pending()}
    assert sorted(by_n) == list(range(50))

    applied: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def answer(i: int, channel: str) -> None:
        request_id = by_n[i]
        try:
            if channel == "cli":
                args = ["--home", str(home), "approvals"]
                if i % 3 == 0:
                    args += ["deny", request_id[:10], "--reason", f"deny {i}"]
                elif i % 3 == 1:
                    args += ["approve", request_id[:10]]
                else:
                    args += ["approve", request_id[:10], "--args", f'{{"n": {i + 1000}}}']
                result = CliRunner().invoke(main, args)
                if result.exit_code != 0:
                    assert "already" in result.stderr, result.output
                    raise AlreadyAnswered("cli says already answered")
            else:
                own = SqliteApprovalStore(home, sweep=False)
                try:
                    desk = ApprovalDesk(own, approver="tui-user", channel="tui")
                    if i % 3 == 0:
                        desk.deny(request_id, f"deny {i}")
                    elif i % 3 == 1:
                        desk.approve(request_id)
                    else:
                        desk.approve(request_id, edited_arguments={"n": i + 1000})
                finally:
                    own.close()
            with lock:
                applied.append(i)
        except AlreadyAnswered:
            with lock:
                refused.append(i)

    rng = random.Random(7)
    # Two approvers race over the whole queue in different random orders: every request is answered
    # twice, so every second answer must be refused.
    orders = [rng.sample(range(50), 50), rng.sample(range(50), 50)]
    approvers = [
        threading.Thread(target=lambda o=orders[0]: [answer(i, "cli") for i in o]),
        threading.Thread(target=lambda o=orders[1]: [answer(i, "tui") for i in o]),
    ]
    for t in approvers:
        t.start()
    for t in approvers:
        t.join(120)
    for t in threads:
        t.join(30)

    assert sorted(applied) == list(range(50))
    assert sorted(refused) == list(range(50))
    for i in range(50):
        if i % 3 == 0:
            assert isinstance(outcomes[i], ApprovalDenied), (i, outcomes[i])
            assert outcomes[i].data["reason"] == f"deny {i}"
        elif i % 3 == 1:
            assert outcomes[i] == i * 10
        else:
            assert outcomes[i] == (i + 1000) * 10
    resolved = [r for r in audit.records if r["event"] == "approval.resolved"]
    assert len(resolved) == 50
    edited = [r for r in resolved if r["edited"]]
    assert len(edited) == len([i for i in range(50) if i % 3 == 2])
    for r in edited:
        assert r["arguments"]["n"] == r["original_arguments"]["n"] + 1000
    assert store.pending() == []


def test_rule_timeout_annotation_times_the_call_out(guard_parts: tuple[Guard, MemoryAudit]) -> None:
    guard, audit = guard_parts
    with pytest.raises(ApprovalTimeout):
        guard.call("quick", {})
    (resolved,) = [r for r in audit.records if r["event"] == "approval.resolved"]
    assert resolved["status"] == "timeout"
    (requested,) = [r for r in audit.records if r["event"] == "approval.requested"]
    assert requested["timeout_s"] == pytest.approx(0.3)


def test_on_timeout_allow_is_applied_by_the_guard(
    make_policy: Callable[[str], Path], tmp_path: Path, store: SqliteApprovalStore, home: Path
) -> None:
    settings = Settings(
        home=home, workspace=tmp_path, approval=ApprovalSettings(timeout_s=0.2, on_timeout="allow")
    )
    guard = Guard(
        make_policy("p, *, t, *, ask"), approver=QueueApprover(store), audit=MemoryAudit(), settings=settings
    )

    @guard.tool(name="t")
    def t() -> str:
        return "ran anyway"

    assert guard.call("t", {}) == "ran anyway"


def test_approve_always_lets_the_next_call_through_and_revoke_stops_it(
    guard_parts: tuple[Guard, MemoryAudit], store: SqliteApprovalStore, home: Path
) -> None:
    guard, _ = guard_parts
    results: list[Any] = []
    t = threading.Thread(target=lambda: results.append(guard.call("work", {"n": 1})))
    t.start()
    wait_until(lambda: bool(store.pending()), what="the first call to ask")
    _, grant = ApprovalDesk(store, approver="alice").approve_always(store.pending()[0].id, GrantScope.TOOL)
    t.join(10)
    assert results == [10]
    assert guard.call("work", {"n": 2}) == 20  # no question asked: the grant is a policy rule now
    assert store.pending() == []
    ApprovalDesk(store, approver="alice").revoke(grant.id)

    def third() -> None:
        try:
            results.append(guard.call("work", {"n": 3}))
        except ApprovalDenied as exc:
            results.append(exc.data["reason"])

    t2 = threading.Thread(target=third)
    t2.start()
    wait_until(lambda: bool(store.pending()), what="the call after revocation to ask again")
    ApprovalDesk(store, approver="alice").deny(store.pending()[0].id, "revoked")
    t2.join(10)
    assert results == [10, "revoked"]

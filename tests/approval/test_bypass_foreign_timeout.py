"""A request closed as ``timeout`` by anyone but its own waiter is not a timeout.

Only the waiting call times its request out (at its deadline); sweeps mark requests ``abandoned``. In a
fleet the agent role may close any pending request as ``timeout`` or ``abandoned`` (row-level security
checks the new state, not whose request it is), so a compromised agent host could close another
host's request as ``timeout`` at once: with ``on_timeout = "allow"`` that host then ran the call
unapproved, long before its deadline. Here the other host is a second store on the same database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import ApprovalDenied, Guard, Settings
from agentguard.approval import QueueApprover, RequestState, SqliteApprovalStore
from agentguard.settings import ApprovalSettings
from agentguard.testing import MemoryAudit

from .conftest import wait_until


@pytest.mark.parametrize("how", ["sync", "async"])
def test_a_timeout_written_by_another_host_before_the_deadline_does_not_allow_the_call(
    make_policy: Callable[[str], Path], tmp_path: Path, store: SqliteApprovalStore, home: Path, how: str
) -> None:
    settings = Settings(
        home=home, workspace=tmp_path, approval=ApprovalSettings(timeout_s=60, on_timeout="allow")
    )
    audit = MemoryAudit()
    guard = Guard(
        make_policy("p, *, t, *, ask"), approver=QueueApprover(store), audit=audit, settings=settings
    )
    ran: list[str] = []

    @guard.tool(name="t")
    def t() -> str:
        ran.append("ran")
        return "ran"

    outcome: list[Any] = []

    def call() -> None:
        try:
            if how == "sync":
                outcome.append(guard.call("t", {}))
            else:
                outcome.append(asyncio.run(guard.acall("t", {})))
        except ApprovalDenied as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(lambda: bool(store.pending()), what="the call to ask")
    other_host = SqliteApprovalStore(home, sweep=False)
    try:
        other_host.close_unanswered(store.pending()[0].id, RequestState.TIMEOUT, "no answer within 60s")
    finally:
        other_host.close()
    thread.join(10)
    assert not thread.is_alive()
    assert ran == []
    (result,) = outcome
    assert isinstance(result, ApprovalDenied)
    (resolved,) = [r for r in audit.records if r["event"] == "approval.resolved"]
    assert resolved["status"] != "timeout"

"""The TUI on a shared queue where two hosts' requests share a call id (a host can file one under
another's id): both are rows of their own (before, the second row's key clashed with the first's),
the detail names the one selected by ``id@role``, and an answer reaches only that one."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from agentguard.approval import PostgresApprovalStore, RequestState
from agentguard.tui import ApprovalApp
from tests.approval.test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture

from .conftest import request
from .test_pilot_hosts import _text, _until


async def test_colliding_ids_are_two_rows_and_an_answer_reaches_one(fleet: Fleet) -> None:  # noqa: F811
    call_id = "ab" * 16
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        a.submit(request("fs.delete", {"path": "/"}, call_id=call_id), HOST_A)
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        b.submit(request("fs.write", {"path": "/work/app.py", "content": "x"}, call_id=call_id), HOST_B)
    mine, theirs = f"{call_id}@{fleet.role_b}", f"{call_id}@{fleet.role_a}"
    store = PostgresApprovalStore(fleet.approver, sweep=False)
    try:
        app = ApprovalApp(
            store, approver="alice", audit_path=Path("/nonexistent/audit.jsonl"), refresh_s=0.05
        )
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one("#queue", DataTable)
            await _until(pilot, lambda: table.row_count == 2, "both hosts' requests")
            await pilot.press("down")  # host B's, submitted second
            await _until(pilot, lambda: mine in _text(app.query_one("#detail-body", Static)), "B's detail")
            await pilot.press("a")
            await _until(pilot, lambda: table.row_count == 1, "the answered row to leave")
        assert store.get(mine).state is RequestState.APPROVED
        assert store.get(theirs).state is RequestState.PENDING
    finally:
        store.close()

"""The TUI on a shared queue where two hosts' requests share a call id (a host can file one under
another's id): both are rows of their own (before, the second row's key clashed with the first's),
the detail names the one selected by ``id@role``, and an answer reaches only that one."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from agentguard.approval import ApprovalDesk, PostgresApprovalStore, RequestState
from agentguard.tui import ApprovalApp, ConfirmDialog
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


async def test_ids_alike_in_the_queue_are_named_by_host(fleet: Fleet) -> None:  # noqa: F811
    """Host A's request under B's id, or one starting as B's does, is shown with its host role in
    the queue itself, not only in the detail: the two rows read apart."""
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        wanted = b.submit(request("fs.write", {"path": "/work/app.py"}, call_id="5e" * 16), HOST_B)
    store = PostgresApprovalStore(fleet.approver, sweep=False)
    try:
        app = ApprovalApp(
            store, approver="alice", audit_path=Path("/nonexistent/audit.jsonl"), refresh_s=0.05
        )
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one("#queue", DataTable)
            await _until(pilot, lambda: table.row_count == 1, "host B's request")
            assert str(table.get_cell(wanted.ref, "id")) == wanted.id[:8]  # alone: the short id
            with PostgresApprovalStore(fleet.a, sweep=False) as a:
                same = a.submit(request("fs.write", {"path": "/work/app.py"}, call_id=wanted.id), HOST_A)
                alike = a.submit(request("fs.write", {"path": "/"}, call_id=wanted.id[:8] + "0" * 24), HOST_A)
            await _until(pilot, lambda: table.row_count == 3, "host A's requests")
            for q in (wanted, same, alike):
                assert str(table.get_cell(q.ref, "id")) == f"{q.id[:8]}@{q.db_role}"
            await pilot.resize_terminal(100, 50)  # a narrow layout keeps the names whole too
            await pilot.pause()
            assert str(table.get_cell(alike.ref, "id")) == f"{alike.id[:8]}@{fleet.role_a}"
            assert table.ordered_columns[table.get_column_index("id")].width >= len(
                f"{alike.id[:8]}@{fleet.role_a}"
            )
    finally:
        store.close()


async def test_renaming_rows_keeps_the_question_for_a_request_that_slid_in(fleet: Fleet) -> None:  # noqa: F811
    """The id column widens for a host's name in the same refresh that the selected request leaves:
    the table is laid out again, and that must not count as the approver choosing the request that
    slid under the cursor (``a`` still asks first)."""
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        w, x, y = (
            b.submit(request("shell.run", {"command": c}, call_id=i * 16), HOST_B)
            for c, i in (("ls", "a1"), ("git status", "b2"), ("git push --force", "c3"))
        )
    store = PostgresApprovalStore(fleet.approver, sweep=False)
    try:
        app = ApprovalApp(
            store, approver="alice", audit_path=Path("/nonexistent/audit.jsonl"), refresh_s=3600
        )
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one("#queue", DataTable)
            await _until(pilot, lambda: table.row_count == 3, "host B's requests")
            await pilot.press("down")  # x, chosen
            await pilot.pause()
            ApprovalDesk(store, approver="bob").deny(x.ref, "bob was faster")
            with PostgresApprovalStore(fleet.a, sweep=False) as a:  # one starting as y does
                a.submit(request("shell.run", {"command": "ls"}, call_id=y.id[:8] + "0" * 24), HOST_A)
            app.refresh_queue()  # both changes in one refresh
            await pilot.pause()
            await _until(
                pilot, lambda: str(table.get_cell(y.ref, "id")) == f"{y.id[:8]}@{fleet.role_b}", "names"
            )
            await pilot.press("a")  # meant for x
            await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
            assert y.id[:8] in app.screen.question
            await pilot.press("n")
            await pilot.pause()
        assert store.get(y.ref).pending
        assert store.get(w.ref).pending
    finally:
        store.close()

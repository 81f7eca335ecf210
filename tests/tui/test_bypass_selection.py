"""``a`` approves only a request the approver chose (found by the red team).

The queue's cursor stays at its row index when the selected request leaves the queue (answered by
someone else, timed out, or just answered here), so the next request slides under it. A keypress
meant for the request that left (a reaction a moment late, a key repeat of ``a``) approved the one
that slid in, unseen. Now ``a`` on a request that slid in asks first, showing it; moving the cursor
is choosing, and ``a`` then approves at once as before.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from agentguard.approval import ApprovalDesk, RequestState
from agentguard.tui import ApprovalApp, ConfirmDialog

from .conftest import Queue, make_app, request
from .test_pilot import until

FIRST = request("shell.run", {"command": "git status"}, call_id="a1" * 16)
SECOND = request("shell.run", {"command": "git push --force origin main"}, call_id="b2" * 16)
THIRD = request("fs.write", {"path": "/work/src/app.py", "content": "x = 1"}, call_id="c3" * 16)


def rows(app: ApprovalApp) -> int:
    return app.query_one("#queue", DataTable).row_count


def state(queue: Queue, req: Any) -> RequestState:
    return queue.store.get(req.call.id).state


async def test_a_request_that_slid_under_the_cursor_is_not_approved_by_a_late_keypress(queue: Queue) -> None:
    queue.submit(FIRST)
    queue.submit(SECOND)
    app = make_app(queue)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 2, "both rows")
        ApprovalDesk(queue.store, approver="bob").deny(FIRST.call.id, "bob was faster")
        await until(pilot, lambda: rows(app) == 1, "the answered row to go")
        await pilot.press("a")  # meant for FIRST
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        assert "b2b2b2b2" in app.screen.question
        assert state(queue, SECOND) is RequestState.PENDING
        await pilot.press("n")
        await pilot.pause()
        assert state(queue, SECOND) is RequestState.PENDING
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: state(queue, SECOND) is RequestState.APPROVED, "the approval")


async def test_a_repeated_a_approves_one_request_only(queue: Queue) -> None:
    queue.submit(FIRST)
    queue.submit(SECOND)
    app = make_app(queue)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 2, "both rows")
        await pilot.press("a", "a")
        await until(pilot, lambda: state(queue, FIRST) is RequestState.APPROVED, "the first approval")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        assert state(queue, SECOND) is RequestState.PENDING


async def test_moving_the_cursor_is_choosing(queue: Queue) -> None:
    for req in (FIRST, SECOND, THIRD):
        queue.submit(req)
    app = make_app(queue)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 3, "three rows")
        ApprovalDesk(queue.store, approver="bob").deny(FIRST.call.id, "no")
        await until(pilot, lambda: rows(app) == 2, "the answered row to go")
        await pilot.press("down", "up", "a")  # on SECOND again, chosen
        await until(pilot, lambda: state(queue, SECOND) is RequestState.APPROVED, "the approval")
        assert not isinstance(app.screen, ConfirmDialog)
        assert state(queue, THIRD) is RequestState.PENDING

"""The key bindings end to end: a real queue, real calls waiting in other threads, real audit log."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from agentguard.approval import ApprovalDesk, GrantScope, RequestState
from agentguard.audit import AuditLog
from agentguard.cli import main
from agentguard.models import ApprovalStatus
from agentguard.tui import ApprovalApp, AuditScreen, GrantsScreen, ScopeDialog

from .conftest import Queue, make_app, request


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def rows(app: ApprovalApp) -> int:
    return app.query_one("#queue", DataTable).row_count


SHELL = request("shell.run", {"command": "git push origin main"}, call_id="ab" * 16)
WRITE = request("fs.write", {"path": "/work/src/app.py", "content": "x = 1"}, call_id="cd" * 16)


async def test_a_approves_the_selected_call(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call to show up")
        await pilot.press("a")
        await until(pilot, lambda: SHELL.call.id in queue.results, "the answer to reach the call")
        await until(pilot, lambda: rows(app) == 0, "the row to go")
    result = queue.results[SHELL.call.id]
    assert result.status is ApprovalStatus.APPROVED
    assert (result.approver, result.channel, result.scope) == ("alice", "tui", "once")


async def test_d_denies_with_a_reason_and_refuses_an_empty_one(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call")
        await pilot.press("d", "enter")
        assert app.screen.query_one("#error").display  # a reason is required
        assert queue.store.get(SHELL.call.id).pending
        await pilot.press(*"push to a branch", "enter")
        await until(pilot, lambda: SHELL.call.id in queue.results, "the answer")
    assert queue.results[SHELL.call.id].status is ApprovalStatus.DENIED
    assert queue.results[SHELL.call.id].reason == "push to a branch"


async def test_deny_with_the_mouse(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call")
        await pilot.click("#queue", offset=(3, 1))
        await pilot.press("d")
        app.screen.query_one("#reason", Input).value = "clicked"
        await pilot.click("#ok")
        await until(pilot, lambda: SHELL.call.id in queue.results, "the answer")
    assert queue.results[SHELL.call.id].reason == "clicked"


async def test_e_edits_then_approves_and_validates_json(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call")
        await pilot.press("e")
        editor = app.screen.query_one("#json", TextArea)
        editor.text = '{"command": "git push origin'  # broken JSON
        await pilot.press("ctrl+s")
        assert "Not valid JSON" in str(app.screen.query_one("#error").render())
        editor.text = '["not", "an object"]'
        await pilot.press("ctrl+s")
        assert "JSON object" in str(app.screen.query_one("#error").render())
        editor.text = '{"command": "git push origin feature/x"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: SHELL.call.id in queue.results, "the answer")
    result = queue.results[SHELL.call.id]
    assert result.approved
    assert result.edited_arguments == {"command": "git push origin feature/x"}


async def test_shift_a_creates_a_grant_g_lists_it_and_r_revokes_it(queue: Queue) -> None:
    queue.wait_for(WRITE)
    app = make_app(queue)
    grants_file = queue.home / "grants.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call")
        await pilot.press("A")
        assert isinstance(app.screen, ScopeDialog)
        preview = app.screen.query_one("#rule", Static)
        assert 'path(path, "/work/src/**")' in str(preview.render())
        pattern = app.screen.query_one("#pattern", Input)
        pattern.value = "/work/src/app.py"
        await pilot.pause()
        assert 'path(path, "/work/src/app.py")' in str(preview.render())
        pattern.value = "/work/(src"  # cannot be written into a rule
        await pilot.pause()
        assert app.screen.query_one("#error").display
        pattern.value = "/work/src/**"
        app.screen.query_one("#expires", Input).value = "8h"
        await pilot.pause()
        assert 'before("' in str(preview.render())
        await pilot.click("#ok")
        await until(pilot, lambda: WRITE.call.id in queue.results, "the answer")
        assert 'p, coder, fs.write, path(path, "/work/src/**") && before("' in grants_file.read_text()
        await pilot.press("g")
        assert isinstance(app.screen, GrantsScreen)
        assert app.screen.query_one("#grants", DataTable).row_count == 1
        await pilot.press("a")  # queue keys do nothing here
        await pilot.press("r", "y")
        await until(pilot, lambda: "p, coder" not in grants_file.read_text(), "the grant to be revoked")
        await pilot.press("escape")
        assert not isinstance(app.screen, GrantsScreen)
    assert queue.results[WRITE.call.id].scope == "always:pattern"
    (grant,) = queue.store.grants(include_inactive=True)
    assert (grant.created_by, grant.revoked_by, grant.scope) == ("alice", "alice", GrantScope.PATTERN)


async def test_new_arrivals_and_answers_from_the_cli_show_up(queue: Queue) -> None:
    app = make_app(queue)
    notified: list[str] = []
    show = app.notify

    def record(message: str, **kw: Any) -> None:  # kept here: toasts expire on a loaded machine
        notified.append(message)
        show(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        assert rows(app) == 0
        queue.wait_for(SHELL)
        queue.wait_for(WRITE)
        await until(pilot, lambda: rows(app) == 2, "two new rows")
        assert any("asks for" in message for message in notified)
        result = CliRunner().invoke(
            main,
            ["--home", str(queue.home), "approvals", "deny", WRITE.call.id[:6], "--reason", "cli says no"],
        )
        assert result.exit_code == 0, result.output
        await until(pilot, lambda: rows(app) == 1, "the row answered elsewhere to go")
        await pilot.press("a")  # the remaining (selected) row is SHELL
        await until(pilot, lambda: len(queue.results) == 2, "both answers")
    assert queue.results[WRITE.call.id].reason == "cli says no"
    assert queue.results[SHELL.call.id].approved


async def test_answering_a_request_someone_else_answered_is_refused(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue, refresh_s=60)  # the screen will be stale on purpose
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the row")
        ApprovalDesk(queue.store, approver="bob").deny(SHELL.call.id, "bob was faster")
        await pilot.press("a")
        await pilot.pause()
        assert any("already denied by bob" in n.message for n in app._notifications)
    assert queue.store.get(SHELL.call.id).state is RequestState.DENIED
    assert queue.results.get(SHELL.call.id) is None or queue.results[SHELL.call.id].reason == "bob was faster"


async def test_l_shows_the_real_audit_log_with_filters_and_chain_status(queue: Queue, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(30):
            log.record("policy.decided", agent="coder" if i % 2 else "bot", tool=f"t{i % 3}", effect="allow")
    app = make_app(queue, fixed_audit=False, audit_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, AuditScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#audit", DataTable)
        assert table.row_count == 30
        assert "intact" in str(app.screen.query_one("#chain", Static).render())
        app.screen.query_one("#f-agent", Input).value = "coder"
        await pilot.pause()
        assert table.row_count == 15
        app.screen.query_one("#f-tool", Input).value = "t1"
        await pilot.pause()
        assert table.row_count == 5
        await pilot.press("escape")
    # Tamper with the log: the screen says so.
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"t2"', b'"t9"', 1))
    app = make_app(queue, fixed_audit=False, audit_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "BROKEN" in str(app.screen.query_one("#chain", Static).render())


async def test_question_mark_opens_help_and_keys_stay_inert_behind_it(queue: Queue) -> None:
    queue.wait_for(SHELL)
    app = make_app(queue)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the row")
        await pilot.press("question_mark")
        assert "keys" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("a")
        await pilot.pause()
        assert queue.store.get(SHELL.call.id).pending
        await pilot.press("escape")
        await pilot.press("d", "escape")
        assert queue.store.get(SHELL.call.id).pending


async def test_hundreds_pending_and_ten_thousand_audit_records_stay_responsive(
    queue: Queue, tmp_path: Path
) -> None:
    for i in range(300):
        queue.submit(request("shell.run", {"command": f"job {i}"}, call_id=f"{i:032x}"), age_s=i)
    path = tmp_path / "audit.jsonl"
    from agentguard.settings import Durability

    with AuditLog(path, durability=Durability.BATCH, batch_size=1000) as log:
        for i in range(10_000):
            log.record("policy.decided", agent="coder", tool="fs.read", effect="allow", n=i)
    app = make_app(queue, fixed_audit=False, audit_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.monotonic()
        await until(pilot, lambda: rows(app) == 300, "300 rows")
        await pilot.press("end")
        ApprovalDesk(queue.store, approver="bob").approve(f"{5:032x}")
        await until(pilot, lambda: rows(app) == 299, "one row to go")
        assert time.monotonic() - started < 10
        started = time.monotonic()
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#audit", DataTable).row_count == 1000  # only the tail is read
        assert "10000 records" in str(app.screen.query_one("#chain", Static).render())
        assert time.monotonic() - started < 10


async def test_tui_answers_real_guarded_calls(
    queue: Queue, make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    """The lead's Guard with the real policy engine asks; the TUI answers; the audit log shows it."""
    import threading

    from agentguard import ApprovalDenied, Guard, Settings
    from agentguard.approval import QueueApprover
    from agentguard.testing import MemoryAudit

    audit = MemoryAudit()
    settings = Settings(home=queue.home, workspace=tmp_path)
    policy = make_policy("p, *, notes.write, *, ask")
    guard = Guard(policy, approver=QueueApprover(queue.store), audit=audit, settings=settings, agent="coder")
    written: list[str] = []

    @guard.tool(name="notes.write")
    def write_note(path: str, text: str) -> str:
        written.append(f"{path}:{text}")
        return "ok"

    outcomes: dict[str, Any] = {}

    def agent(name: str, args: dict[str, Any]) -> None:
        try:
            outcomes[name] = guard.call("notes.write", args)
        except ApprovalDenied as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=agent, args=("first", {"path": "/w/a.md", "text": "hi"})),
        threading.Thread(target=agent, args=("second", {"path": "/w/b.md", "text": "rm -rf"})),
    ]
    app = make_app(queue)
    async with app.run_test(size=(120, 40)) as pilot:
        for count, t in enumerate(threads, 1):
            t.start()
            await until(pilot, lambda n=count: rows(app) == n, "the guarded call to ask")
        await pilot.press("e")
        app.screen.query_one("#json", TextArea).text = '{"path": "/w/a.md", "text": "hello"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: rows(app) == 1, "the first call to be answered")
        await pilot.press("d", *"no deletes", "enter")
        for t in threads:
            t.join(10)
    assert outcomes["first"] == "ok"
    assert written == ["/w/a.md:hello"]
    assert isinstance(outcomes["second"], ApprovalDenied)
    assert outcomes["second"].data["reason"] == "no deletes"
    resolved = [r for r in audit.records if r["event"] == "approval.resolved"]
    assert [(r["status"], r["channel"], r["approver"], r["edited"]) for r in resolved] == [
        ("approved", "tui", "alice", True),
        ("denied", "tui", "alice", False),
    ]
    assert resolved[0]["original_arguments"] == {"path": "/w/a.md", "text": "hi"}


def detail_text(app: ApprovalApp) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(app.query_one("#detail-body", Static).content)
    return console.export_text()


async def test_the_detail_panes_time_left_counts_down(queue: Queue) -> None:
    queue.wait_for(SHELL)  # 300 s to answer
    app = make_app(queue)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 1, "the waiting call")
        assert "5m00s left" in detail_text(app)
        queue.clock.now += timedelta(seconds=90)
        await until(pilot, lambda: "3m30s left" in detail_text(app), "the pane to tick without a keypress")


async def test_the_audit_screen_shows_every_field_of_a_forged_record_as_plain_text(
    queue: Queue, tmp_path: Path
) -> None:
    """A record whose ``ts``, ``event`` or call id holds rich markup or an escape sequence (someone who
    could write the file; the chain then says BROKEN) is shown as text: the time cell was a plain str,
    which a DataTable reads as markup, so ``[/x]`` crashed the screen."""
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("policy.decided", agent="bot", tool="t", effect="allow")
    record = orjson.loads(path.read_bytes().splitlines()[0])
    record.update(ts="2026-01-01T[/x]\x1b[2J[b]bold[/b]", event="[/y]\x1b[31m", call_id="[/z]\x1b]8;;")
    path.write_bytes(orjson.dumps(record) + b"\n")
    app = make_app(queue, fixed_audit=False, audit_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, AuditScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#audit", DataTable)
        assert table.row_count == 1
        cells = [str(cell) for cell in table.get_row_at(0)]
        assert all("\x1b" not in cell for cell in cells), cells
        assert "[/x]" in cells[0]
        assert "[/y]" in cells[1]

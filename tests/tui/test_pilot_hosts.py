"""The TUI on a shared PostgreSQL queue: the approver sees which host (database role) asked, and an
"approve always" says it applies on that host only, as the grant it stores does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from agentguard.approval import Owner, PostgresApprovalStore
from agentguard.tui import ApprovalApp, ScopeDialog

from .conftest import request


async def _until(pilot: Pilot[Any], predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def _text(widget: Static) -> str:
    console = Console(record=True, width=200)
    console.print(widget.content)
    return console.export_text()


async def test_the_tui_shows_the_asking_host_and_scopes_the_grant_to_it(pg_url: str) -> None:
    store = PostgresApprovalStore(pg_url, sweep=False)
    try:
        asked = request("fs.write", {"path": "/work/src/app.py", "content": "x = 1"}, call_id="ef" * 16)
        store.submit(asked, Owner(pid=7, host="ci-7", start="boot:1"))
        app = ApprovalApp(
            store, approver="alice", audit_path=Path("/nonexistent/audit.jsonl"), refresh_s=0.05
        )
        async with app.run_test(size=(160, 50)) as pilot:
            await _until(pilot, lambda: app.query_one("#queue", DataTable).row_count == 1, "the request")
            shown = "".join(_text(s) for s in app.query(Static))
            assert (
                'database role postgres, host name it gave: "ci-7"' in shown
            )  # the tables' owner, as this test logs in
            await pilot.press("A")
            assert isinstance(app.screen, ScopeDialog)
            preview = app.screen.query_one("#rule", Static)
            assert "(on host role postgres only)" in _text(preview)
            await pilot.click("#ok")
            await _until(pilot, lambda: bool(store.grants()), "the grant")
        (grant,) = store.grants()
        assert grant.host_role == "postgres"
    finally:
        store.close()

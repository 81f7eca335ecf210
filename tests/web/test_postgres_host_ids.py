"""The console on a shared PostgreSQL queue where two hosts' requests share a call id (a host can
file one under another's id, read from the audit trail): pages, the API and webhooks name each by
``id@role``, a bare id answers neither, and the victim's request is still announced."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from agentguard.approval import PostgresApprovalStore, RequestState
from agentguard.web import Console, ConsoleOptions, TokenStore, Webhook, create_app
from tests.approval.conftest import make_request
from tests.approval.test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture
from tests.web.test_webhooks import receiver  # noqa: F401 - the fixture

_Got = queue.Queue[tuple[str, dict[str, Any]]]


@pytest.fixture
def console(fleet: Fleet, tmp_path: Path, receiver: tuple[str, _Got]) -> Iterator[Console]:  # noqa: F811
    store = PostgresApprovalStore(fleet.approver, sweep=False)
    tokens = TokenStore(tmp_path)
    options = ConsoleOptions(
        public_url="http://console.test",
        allowed_hosts=("testserver",),
        webhooks=(Webhook(receiver[0] + "/generic"),),
    )
    try:
        yield Console(store=store, tokens=tokens, options=options)
    finally:
        tokens.close()
        store.close()


def test_the_console_names_colliding_requests_by_host(
    fleet: Fleet,  # noqa: F811
    console: Console,
    receiver: tuple[str, _Got],  # noqa: F811
) -> None:
    got = receiver[1]
    wanted = make_request(arguments={"command": "make deploy"})
    call_id = wanted.call.id
    mine, theirs = f"{call_id}@{fleet.role_b}", f"{call_id}@{fleet.role_a}"
    _, token = console.tokens.create("alice")
    auth = {"authorization": f"Bearer {token}"}
    with TestClient(create_app(console)) as web:  # the lifespan runs the webhook announcer
        with PostgresApprovalStore(fleet.a, sweep=False) as a:  # host A squats B's call id first
            a.submit(make_request(tool="files.delete", arguments={"path": "/"}, call_id=call_id), HOST_A)
        first = got.get(timeout=20)[1]
        assert first["request"]["ref"] == theirs
        with PostgresApprovalStore(fleet.b, sweep=False) as b:
            b.submit(wanted, HOST_B)
        second = got.get(timeout=20)[1]  # announced although host A's request holds the same id
        assert second["request"]["ref"] == mine
        assert second["url"] == f"http://console.test/requests/{quote(mine, safe='@')}"

        listed = web.get("/api/requests", headers=auth).json()["requests"]
        assert sorted(q["ref"] for q in listed) == sorted([mine, theirs])
        page = web.get("/", headers=auth).text
        assert f"{call_id[:8]}@{fleet.role_a}" in page
        assert f"{call_id[:8]}@{fleet.role_b}" in page
        bare = web.get(f"/api/requests/{call_id}", headers=auth)
        assert bare.status_code == 404
        assert "more than one host" in bare.json()["error"]
        denied = web.post(f"/api/requests/{call_id}/deny", headers=auth, json={"reason": "no"})
        assert denied.status_code == 404  # a bare id answers neither
        detail = web.get(f"/requests/{quote(mine)}", headers=auth)
        assert detail.status_code == 200
        assert "make deploy" in detail.text
        assert f'data-id="{mine}"' in detail.text
        done = web.post(f"/api/requests/{quote(mine)}/approve", headers=auth, json={})
        assert done.status_code == 200, done.text
        assert done.json()["request"]["ref"] == mine
    b_row, a_row = console.store.get(mine), console.store.get(theirs)
    assert (b_row.state, b_row.approver, b_row.channel) == (RequestState.APPROVED, "alice", "web")
    assert a_row.state is RequestState.PENDING

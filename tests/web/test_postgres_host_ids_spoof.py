"""The console on a shared queue where host A files a request whose id only starts as host B's does
(the part the queue shows): the queue page names each by host, and a Slack announcement says which
host asked, as the page it links to does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agentguard.approval import PostgresApprovalStore
from agentguard.web import Console, ConsoleOptions, TokenStore, Webhook, create_app
from agentguard.web._notify import payload
from tests.approval.conftest import make_request
from tests.approval.test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture


@pytest.fixture
def console(fleet: Fleet, tmp_path: Path) -> Iterator[Console]:  # noqa: F811
    store = PostgresApprovalStore(fleet.approver, sweep=False)
    tokens = TokenStore(tmp_path)
    options = ConsoleOptions(public_url="http://console.test", allowed_hosts=("testserver",))
    try:
        yield Console(store=store, tokens=tokens, options=options)
    finally:
        tokens.close()
        store.close()


def test_ids_alike_in_the_queue_are_named_by_host(fleet: Fleet, console: Console) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        wanted = b.submit(make_request(arguments={"command": "make deploy"}), HOST_B)
    lookalike = wanted.id[:8] + "0" * 24
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        theirs = a.submit(make_request(arguments={"command": "make deploy"}, call_id=lookalike), HOST_A)
    _, token = console.tokens.create("alice")
    with TestClient(create_app(console)) as web:
        page = web.get("/", headers={"authorization": f"Bearer {token}"}).text
    assert f">{wanted.id[:8]}@{fleet.role_b}<" in page
    assert f">{wanted.id[:8]}@{fleet.role_a}<" in page
    slack = Webhook("http://hooks.test/slack", style="slack")
    for queued, role in ((wanted, fleet.role_b), (theirs, fleet.role_a)):
        text = str(payload(slack, queued, "http://console.test/requests/x"))
        assert f"{queued.id[:8]}@{role}" in text  # which host's request the message links to
    # the id is the host's to choose: in the link's label it is text, never Slack markup
    odd = wanted.model_copy(update={"id": "a><https://evil.test|b"})
    label = payload(slack, odd, "http://console.test/requests/x")["blocks"][1]["text"]["text"]
    assert label.count("<") == 1, label
    assert label.count(">") == 1, label

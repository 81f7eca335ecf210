"""Webhooks carry no more of a request than the audit log would keep: secrets are redacted.

The generic webhook POSTed the request's arguments unredacted (``approvals.db`` holds them so, for
the approver), and the Slack message quoted the key argument unredacted: a bearer token in a command,
a password argument or an API key in a file's content went to the receiver, and into a Slack
channel's history, while the audit log beside them redacts exactly those. The approver opens the
request's page (behind a login) for the whole call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentguard.approval import SqliteApprovalStore
from agentguard.models import ApprovalRequest, Decision, Effect, RuleRef, ToolCall
from agentguard.owner import Owner
from agentguard.web import Webhook
from agentguard.web._notify import payload

TOKEN = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
COMMAND = f'curl -H "Authorization: Bearer {TOKEN}" https://api.github.com/user'


@pytest.mark.parametrize("style", ["json", "slack"])
def test_a_webhook_never_carries_a_secret_of_the_call(tmp_path: Path, style: str) -> None:
    store = SqliteApprovalStore(tmp_path / "home")
    try:
        rule = RuleRef(file="policy.csv", line=3, text="p, *, shell.run, *, ask")
        call = ToolCall(
            agent="coder", tool="shell.run", arguments={"command": COMMAND, "password": "hunter2"}
        )
        request = ApprovalRequest(
            call=call, decision=Decision(effect=Effect.ASK, rule=rule, reason="asked"), timeout_s=30
        )
        queued = store.submit(request, Owner.current())
        body = json.dumps(payload(Webhook(url="http://127.0.0.1:9/hook", style=style), queued, "http://x/r"))
    finally:
        store.close()
    assert TOKEN not in body
    assert "hunter2" not in body
    assert "api.github.com" in body  # the rest of the call is still there

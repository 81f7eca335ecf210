"""How requests and grants are shown: one line for the CLI table and the TUI queue, and the JSON form
``approvals list --json``, ``grants list --json`` and the web console's API share."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from agentguard.approval._grants import check_grant, render_rule
from agentguard.approval._records import KEY_ARGUMENTS, Grant, QueuedRequest
from agentguard.approval._shown import shown_text
from agentguard.models import ToolCall

__all__ = [
    "grant_json",
    "grant_reach",
    "host_text",
    "key_argument_text",
    "request_json",
    "short_duration",
    "short_refs",
]


def key_argument_text(call: ToolCall, width: int = 60) -> str:
    """The argument that says most about the call (command, path, url, code...), on one line."""
    args = call.arguments
    value: object | None = None
    for key, _ in KEY_ARGUMENTS:
        if key in args:
            value = args[key]
            break
    if value is None and args:
        value = next(iter(args.values()))
    text = "" if value is None else str(value)
    text = " ".join(shown_text(text)[0].split())  # what the agent hid is shown, not dropped
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def short_refs(requests: Iterable[QueuedRequest], width: int = 8) -> dict[str, str]:
    """How a list names each request (by ref): its id's first ``width`` characters, with ``@role``
    after them in a list that holds more than one host role's requests. A host picks its ids: one
    equal to another host's, starting alike or looking alike (``l`` for ``1``) would read as that
    host's request without the role. ``approvals approve`` takes the same ``prefix@role``."""
    found = list(requests)
    hosts = len({q.db_role for q in found}) > 1  # SQLite and one-host lists: no role to tell apart
    return {q.ref: q.id[:width] + (f"@{q.db_role or ''}" if hosts else "") for q in found}


def short_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h10m``, ``4d``: compact, for ages and time left."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d"


def host_text(q: QueuedRequest) -> str | None:
    """Which host asked: the database role that submitted the request (checked by the database, so the
    one to trust) where the store knows it, then the host name the agent gave. ``None`` for a
    request with no role from this machine (a single-host store): nothing to tell apart."""
    if q.db_role is None:
        return None if q.owner.host == socket.gethostname() else q.owner.host
    # The checked role first, the given name after it in quotes: a host names itself anything, such
    # as "host-b (database role host_b)", which must not read as a role the database vouched for.
    return f"database role {q.db_role}, host name it gave: {orjson.dumps(q.owner.host).decode()}"


def grant_reach(grant: Grant) -> str:
    """Where a grant applies, when not on every host: only the agent host logging in as its role."""
    return f" (on host role {grant.host_role} only)" if grant.host_role else ""


def request_json(q: QueuedRequest) -> dict[str, Any]:
    """A queued request as the ``--json`` output shows it."""
    return {
        "id": q.id,
        "ref": q.ref,  # what names this request in the store: "id@role" on a shared database
        "state": q.state.value,
        "agent": q.call.agent,
        "tool": q.call.tool,
        "arguments": q.call.arguments,
        "rule": q.request.decision.rule_id,
        "rule_text": q.request.decision.rule.text if q.request.decision.rule else None,
        "reason": q.request.decision.reason,
        "sandbox_profile": q.request.decision.sandbox_profile,
        "submitted_at": q.submitted_at.isoformat(),
        "deadline": q.deadline.isoformat(),
        "owner": {"pid": q.owner.pid, "host": q.owner.host},
        "db_role": q.db_role,
        "approver": q.approver,
        "channel": q.channel,
        "answer_reason": q.reason,
        "edited_arguments": q.edited_arguments,
        "scope": q.scope,
        "grant_id": q.grant_id,
        "resolved_at": q.resolved_at.isoformat() if q.resolved_at else None,
    }


def grant_json(g: Grant, now: datetime) -> dict[str, Any]:
    return {
        "id": g.id,
        "state": g.state(now),
        "problem": check_grant(g),
        "agent": g.agent,
        "tool": g.tool,
        "scope": g.scope.value,
        "condition": g.condition,
        "rule": render_rule(g),
        "created_by": g.created_by,
        "created_at": g.created_at.isoformat(),
        "expires_at": g.expires_at.isoformat() if g.expires_at else None,
        "request_id": g.request_id,
        "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        "revoked_by": g.revoked_by,
        "host_role": g.host_role,
    }

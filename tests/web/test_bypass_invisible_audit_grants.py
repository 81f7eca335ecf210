"""Red team: the audit and grants pages showed invisible and bidi characters as they are.

The approval pages mark them (``agentguard/approval/_shown.py``), but the audit log and the grants
list put an agent's text on the page unchanged: a grant whose rule holds a right-to-left override
reads as another path than the one it allows (``report<RLO>fdp.exe`` looks like ``reportexe.pdf``),
and an audit reason or tool name can hide text in zero-width or tag characters. Every page the
console renders now marks them as ``⟦U+XXXX⟧``. Real console over HTTP.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from datetime import UTC, datetime

from agentguard.approval import Grant, GrantScope
from agentguard.audit import AuditLog
from tests.web.conftest import Served
from tests.web.test_security import login

RLO, LRI, PDI, ZWSP, TAG_A, BEL = "\u202e", "\u2066", "\u2069", "\u200b", "\U000e0061", "\x07"
HIDDEN = (RLO, LRI, PDI, ZWSP, TAG_A, BEL)


def _body_text(page: str) -> str:
    return html.unescape(page.split("<body", 1)[1])


def test_audit_page_marks_invisible_characters(serve: Callable[..., Served]) -> None:
    served = serve()
    with AuditLog(served.audit_path) as log:
        tool, session = f"fs.read{ZWSP}", f"s{LRI}x{PDI}"
        log.record("call.received", call_id="c1", agent="coder", tool=tool, session=session)
        log.record("policy.decided", call_id="c1", effect="deny", reason=f"no{RLO}txt.exe{TAG_A}{BEL}")
    client, _csrf = login(served)
    with contextlib.closing(client):
        text = _body_text(client.get("/audit").text)
    for hidden in HIDDEN:
        assert hidden not in text, repr(hidden)
    for mark in ("⟦U+200B⟧", "⟦U+2066⟧", "⟦U+202E⟧", "⟦U+E0061⟧", "⟦U+0007⟧"):
        assert mark in text, mark


def test_grants_page_marks_invisible_characters(serve: Callable[..., Served]) -> None:
    served = serve()
    path = served.workspace / f"notes/report{RLO}fdp.exe"
    served.store.add_grant(
        Grant(
            id="a" * 32,
            agent="coder",
            tool="fs.read",
            scope=GrantScope.PATTERN,
            condition=f'path(path, "{path}")',
            created_by=f"alice{ZWSP}",
            created_at=datetime.now(UTC),
        )
    )
    client, _csrf = login(served)
    with contextlib.closing(client):
        text = _body_text(client.get("/grants").text)
    assert "report⟦U+202E⟧fdp.exe" in text
    assert "alice⟦U+200B⟧" in text
    for hidden in HIDDEN:
        assert hidden not in text, repr(hidden)

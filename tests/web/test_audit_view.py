"""The audit browser's filters and chain status, over a real hash-chained log."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from agentguard.audit import AuditLog
from tests.web.conftest import Served


def _write(served: Served) -> None:
    with AuditLog(served.audit_path) as log:
        log.record("call.received", call_id="c1", agent="coder", tool="fs.write", session="s-alpha")
        log.record("policy.decided", call_id="c1", effect="ask", reason="asked")
        log.record("approval.resolved", call_id="c1", status="denied", approver="alice", reason="no")
        log.record("call.received", call_id="c2", agent="planner", tool="http.get", session="s-beta")
        log.record("policy.decided", call_id="c2", effect="allow", reason="allowed")


def test_filters_follow_the_call_and_the_chain_status_is_shown(serve: Callable[..., Served]) -> None:
    served = serve()
    _write(served)
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.url, headers=headers) as client:

        def events(**query: str) -> list[tuple[str, str]]:
            body = client.get("/api/audit", params=query).json()
            assert body["chain"]["state"] == "intact"
            return [(r["event"], r["call_id"]) for r in body["records"]]

        assert events(agent="coder") == [("approval.resolved", "c1"), ("policy.decided", "c1"),
                                         ("call.received", "c1")]  # fmt: skip
        assert events(tool="http") == [("policy.decided", "c2"), ("call.received", "c2")]
        assert events(effect="denied") == [("approval.resolved", "c1")]
        assert events(session="beta") == [("policy.decided", "c2"), ("call.received", "c2")]
        assert len(events(since="1h")) == 5
        assert events(until="2000-01-01T00:00") == []
        bad = client.get("/api/audit", params={"since": "yesterday"})
        assert bad.status_code == 400
        assert "since" in bad.json()["error"]
        page = client.get("/audit", params={"agent": "planner"}).text
        assert "chain: intact, 5 records" in page
        assert "http.get" in page
        assert "s-alpha" not in page
    # a changed byte breaks the chain, and the page says so
    data = served.audit_path.read_bytes().replace(b'"reason":"no"', b'"reason":"ok"')
    served.audit_path.write_bytes(data)
    with httpx.Client(base_url=served.url, headers=headers) as client:
        chain = client.get("/api/audit").json()["chain"]
    assert chain["state"] == "broken"

"""One agent "host" of the fleet test: guarded calls that need approval, outcomes as JSON lines.

argv: database URL, state dir, number of calls, outcome file. Every audit record the database
acknowledged is noted (its ``ack`` id) in ``<state>/acks`` after ``record`` returned.
"""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

from agentguard import Guard
from agentguard.approval import PostgresApprovalStore, QueueApprover
from agentguard.audit import AuditLog, PostgresAuditLog
from agentguard.errors import AgentGuardError
from agentguard.settings import load_settings


class AckedAudit:
    """Notes each record the database acknowledged, so the test can look for every one of them."""

    def __init__(self, inner: PostgresAuditLog, acks: Path) -> None:
        self.inner = inner
        self.acks = acks.open("a", encoding="utf-8")

    def record(self, event: str, /, **fields: Any) -> None:
        ack = uuid.uuid4().hex
        self.inner.record(event, ack=ack, **fields)
        self.acks.write(ack + "\n")
        self.acks.flush()

    def close(self) -> None:
        self.inner.close()
        self.acks.close()


def main() -> None:
    url, state, calls, out_path = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    state.mkdir(parents=True, exist_ok=True)
    policy = state / "policy"
    policy.mkdir(exist_ok=True)
    repo = Path(__file__).resolve().parents[2]
    (policy / "model.conf").write_bytes((repo / "permissions" / "model.conf").read_bytes())
    (policy / "policy.csv").write_text("p, *, deploy, *, ask\n", encoding="utf-8")
    settings = load_settings(
        env={}, overrides={"home": str(state), "policy_dir": str(policy), "approval.timeout_s": 8}
    )
    store = PostgresApprovalStore(url, heartbeat_s=0.5)
    audit = AckedAudit(PostgresAuditLog(url, local=AuditLog(state / "audit.jsonl")), state / "acks")
    guard = Guard(settings=settings, approver=QueueApprover(store), audit=audit, agent="fleet")

    @guard.tool(name="deploy")
    def deploy(n: int, tag: str, approved_for: str = "") -> dict[str, Any]:
        return {"n": n, "tag": tag, "approved_for": approved_for}

    host = socket.gethostname()
    with out_path.open("a", encoding="utf-8") as out:
        for i in range(calls):
            tag = f"{host}-{i}"
            try:
                line: dict[str, Any] = {"tag": tag, "n": i, "outcome": "ran", "result": deploy(n=i, tag=tag)}
            except AgentGuardError as exc:
                line = {"tag": tag, "n": i, "outcome": "refused", "code": exc.code, "message": str(exc)}
            out.write(orjson.dumps(line).decode() + "\n")
            out.flush()
    guard.close()
    store.close()


if __name__ == "__main__":
    main()

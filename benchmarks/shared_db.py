"""The shared control plane on PostgreSQL, side by side with the embedded SQLite/file default.

- approval round trip: submit -> an approver in another connection answers -> the waiter sees it
  (``QueueApprover.request`` returning), p50/p99;
- audit append rate with 1, 4 and 16 writer processes, fsync durability (one commit per record on
  PostgreSQL, one fsync per record in the file), records per second in total;
- decision latency with grants read from the store before every decision (``refresh_due`` + ``decide``).

Needs a server: ``AGENTGUARD_BENCH_DATABASE_URL=postgresql://...`` (a database is created and dropped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentguard.approval import (
    AlreadyAnswered,
    ApprovalDesk,
    ApprovalStore,
    Owner,
    PostgresApprovalStore,
    PostgresGrantSource,
    QueueApprover,
    SqliteApprovalStore,
    SqliteGrantSource,
)
from agentguard.database import Database, upgrade
from agentguard.models import ApprovalRequest, Decision, Effect, RuleRef, ToolCall
from agentguard.policy import PolicyEngine, StoredPolicy, push_policy
from agentguard.settings import Settings
from benchmarks._stats import ratio, summary_us

ENV = "AGENTGUARD_BENCH_DATABASE_URL"
REPO = Path(__file__).resolve().parent.parent


def _request(i: int) -> ApprovalRequest:
    call = ToolCall(agent="bench", tool="shell.run", arguments={"command": f"job {i}"})
    rule = RuleRef(file="policy.csv", line=1, text="p, *, shell.run, *, ask")
    return ApprovalRequest(
        call=call, decision=Decision(effect=Effect.ASK, rule=rule, reason="bench"), timeout_s=30
    )


def _round_trips(agent: ApprovalStore, approver: ApprovalStore, n: int) -> list[float]:
    stop = threading.Event()

    def answer() -> None:
        desk = ApprovalDesk(approver, approver="bench")
        while not stop.is_set():
            seen = approver.version()
            for queued in approver.pending():
                try:
                    desk.approve(queued.id)
                except AlreadyAnswered:
                    continue
            approver.wait_for_change(seen, 0.2)

    worker = threading.Thread(target=answer, daemon=True)
    worker.start()
    waiter = QueueApprover(agent, owner=Owner.current())
    samples = []
    try:
        for i in range(n):
            started = time.perf_counter()
            result = waiter.request(_request(i))
            samples.append(time.perf_counter() - started)
            assert result.approved
    finally:
        stop.set()
        worker.join(5)
    return samples


_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from agentguard.audit import AuditLog, PostgresAuditLog
    target, n = {target!r}, {n}
    if target.startswith("plain:"):  # the baseline: one INSERT + commit per record, no chain, no lock
        import psycopg, orjson
        conn = psycopg.connect(target[6:], autocommit=True)
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            body = orjson.dumps({{"event": "call.received", "call_id": str(i), "arguments": {{"path": "x"}}}})
            conn.execute("INSERT INTO bench_plain (line) VALUES (%s)", (body.decode(),))
        sys.exit(0)
    log = PostgresAuditLog(target) if target.startswith("postgresql://") else AuditLog(target)
    log.record("bench.ready")
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        log.record("call.received", call_id=str(i), agent="bench", tool="fs.read", arguments={{"path": "x"}})
    log.close()
    """
)


def _append_rate(target: str, writers: int, per_writer: int) -> float:
    """Records per second, all writers together, from the moment all are released."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER.format(repo=str(REPO), target=target, n=per_writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(writers)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(600) == 0
    return writers * per_writer / (time.perf_counter() - started)


def _decisions(grants: Any, policy: Path, n: int) -> list[float]:
    engine = PolicyEngine.load(policy, workspace=policy, grants=grants)
    call = ToolCall(agent="bench", tool="shell.run", arguments={"command": "ls"})
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        engine.refresh_due()
        engine.decide(call)
        samples.append(time.perf_counter() - started)
    return samples


def _stored_decisions(url: str, policy: Path, home: Path, grants: Any, n: int) -> list[float]:
    """The same decisions with the policy pushed to the database and loaded from there
    (``[policy] source = "database"``): each decision also checks for a newer pushed version."""
    db = Database(url, max_size=1)
    try:
        push_policy(db, policy, workspace=policy, pushed_by="bench")
        settings = Settings(home=home, workspace=policy, database_url=url)
        stored = StoredPolicy(settings, database=db, grants=grants)
        call = ToolCall(agent="bench", tool="shell.run", arguments={"command": "ls"})
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            stored.refresh_due()
            stored.decide(call)
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        db.close()


def run(*, round_trips: int = 100, per_writer: int = 200, decisions: int = 2000) -> dict[str, Any]:
    server = os.environ.get(ENV)
    if not server:
        return {"status": "skipped", "why": f"set {ENV}=postgresql://... to measure PostgreSQL"}
    import psycopg

    name = f"agentguard_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        db = Database(url, max_size=1)
        upgrade(db)
        db.close()
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            out: dict[str, Any] = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
            # approval round trip
            rt: dict[str, Any] = {}
            pairs: dict[str, Callable[[], ApprovalStore]] = {
                "sqlite": lambda: SqliteApprovalStore(home),
                "postgres": lambda: PostgresApprovalStore(url),
            }
            for backend, opener in pairs.items():
                agent, approver = opener(), opener()
                try:
                    rt[backend] = summary_us(_round_trips(agent, approver, round_trips))
                finally:
                    agent.close()
                    approver.close()
            out["approval_round_trip_us"] = rt
            # audit append rate
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE bench_plain (seq bigserial PRIMARY KEY, line text NOT NULL)")
            rates: dict[str, dict[int, float]] = {"file": {}, "postgres": {}, "postgres_plain_insert": {}}
            for writers in (1, 4, 16):
                file_log = str(Path(tmp) / f"a{writers}.jsonl")
                rates["file"][writers] = round(_append_rate(file_log, writers, per_writer))
                rates["postgres"][writers] = round(_append_rate(url, writers, per_writer))
                rates["postgres_plain_insert"][writers] = round(
                    _append_rate("plain:" + url, writers, per_writer)
                )
            out["audit_append_per_s"] = rates
            # decision latency with grants read from the store
            policy = Path(tmp) / "policy"
            policy.mkdir()
            (policy / "model.conf").write_bytes((REPO / "permissions" / "model.conf").read_bytes())
            (policy / "policy.csv").write_text("p, *, shell.run, *, ask\n", encoding="utf-8")
            sqlite_grants, pg_grants = SqliteGrantSource(home), PostgresGrantSource(url)
            dec = {
                "sqlite_grants": summary_us(_decisions(sqlite_grants, policy, decisions)),
                "postgres_grants": summary_us(_decisions(pg_grants, policy, decisions)),
                "postgres_policy_and_grants": summary_us(
                    _stored_decisions(url, policy, home, pg_grants, decisions)
                ),
            }
            sqlite_grants.close()
            pg_grants.close()
            out["decision_us"] = dec
            out["ratios"] = {
                "round_trip_p50_pg_vs_sqlite": ratio(rt["postgres"]["p50_us"], rt["sqlite"]["p50_us"]),
                "decision_p50_pg_vs_sqlite": ratio(
                    dec["postgres_grants"]["p50_us"], dec["sqlite_grants"]["p50_us"]
                ),
            }
            out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            return out
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    import json

    quick = "--quick" in sys.argv
    print(
        json.dumps(
            run(
                round_trips=50 if quick else 200,
                per_writer=100 if quick else 300,
                decisions=1000 if quick else 5000,
            ),
            indent=2,
        )
    )

"""What PostgreSQL adds to the approval store: other hosts, heartbeats, grants read by every host,
schema versions, a lost connection, a database that is down. A real server; never mocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from agentguard.approval import (
    AlreadyAnswered,
    ApprovalDesk,
    GrantScope,
    Owner,
    PostgresApprovalStore,
    PostgresGrantSource,
    QueueApprover,
    RequestState,
)
from agentguard.database import SCHEMA_VERSION, Database, DatabaseError, check_schema, upgrade
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalResult, ApprovalStatus, Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit

from .conftest import make_request, wait_until

REPO = Path(__file__).resolve().parents[2]

_RACER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from agentguard.approval import AlreadyAnswered, ApprovalDesk, PostgresApprovalStore
    store = PostgresApprovalStore({url!r}, sweep=False)
    desk = ApprovalDesk(store, approver="racer-{n}")
    won = 0
    for request_id in {ids!r}:
        try:
            desk.approve(request_id)
            won += 1
        except AlreadyAnswered:
            pass
    print(won, flush=True)
    store.close()
    """
)


def test_racing_approver_processes_answer_each_request_exactly_once(pg_url: str) -> None:
    with PostgresApprovalStore(pg_url) as store:
        ids = [
            store.submit(make_request(arguments={"command": f"job {i}"}), Owner.current()).id
            for i in range(30)
        ]
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER.format(repo=str(REPO), url=pg_url, n=n, ids=ids)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(4)
        ]
        wins = [int(r.communicate(timeout=60)[0]) for r in racers]
        assert sum(wins) == 30  # every request answered once, by exactly one process
        answered = [store.get(i) for i in ids]
        assert all(q.state is RequestState.APPROVED for q in answered)
        by = {q.approver for q in answered}
        assert by <= {f"racer-{n}" for n in range(4)}


def test_an_owner_on_another_host_is_abandoned_when_its_heartbeat_stops(pg_url: str) -> None:
    elsewhere = Owner(pid=4242, host="agent-7.fleet.invalid", start="boot:1")
    agent_side = PostgresApprovalStore(pg_url, heartbeat_s=0.1)
    audit = MemoryAudit()
    approver_side = PostgresApprovalStore(pg_url, owner_stale_s=1.0, audit=audit)
    try:
        queued = agent_side.submit(make_request(), elsewhere)
        agent_side.version()  # the listener (and its heartbeat) runs
        assert approver_side.sweep() == []  # heartbeating: alive, whatever its pid means here
        agent_side.close()  # the agent's host goes away: no more heartbeats
        wait_until(lambda: approver_side.sweep() == [queued.ref], timeout=15, what="the stale owner swept")
        final = approver_side.get(queued.id)
        assert final.state is RequestState.ABANDONED
        assert "agent-7.fleet.invalid" in (final.reason or "")
        assert audit.events == ["approval.abandoned"]
        assert audit.records[0]["owner_host"] == "agent-7.fleet.invalid"
    finally:
        agent_side.close()
        approver_side.close()


def test_a_waiter_still_gets_its_answer_when_its_listening_connection_is_killed(pg_url: str) -> None:
    store = PostgresApprovalStore(pg_url)
    results: list[ApprovalResult] = []
    request = make_request()
    worker = threading.Thread(target=lambda: results.append(QueueApprover(store).request(request)))
    worker.start()
    try:
        wait_until(lambda: bool(store.pending()), what="the request to be queued")
        listeners = (
            " FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'agentguard-listen-%%'"
        )
        with psycopg.connect(pg_url, autocommit=True) as admin:  # what a server restart does to it
            # The waiter listens once its request is queued: wait for its connection, then kill it.
            wait_until(
                lambda: (admin.execute("SELECT count(*)" + listeners).fetchone() or (0,))[0] >= 1,
                what="the waiter's listening connection",
            )
            killed = admin.execute("SELECT count(pg_terminate_backend(pid))" + listeners).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        with PostgresApprovalStore(pg_url) as approver:
            ApprovalDesk(approver, approver="alice").approve(request.call.id)
        worker.join(15)
        assert results
        assert results[0].status is ApprovalStatus.APPROVED
        assert results[0].approver == "alice"
    finally:
        worker.join(1)
        store.close()


def _engine(policy: Path, tmp_path: Path, pg_url: str) -> PolicyEngine:
    return PolicyEngine.load(policy, workspace=tmp_path, grants=PostgresGrantSource(pg_url))


def _effect(engine: PolicyEngine, command: str) -> Effect:
    engine.refresh_due()
    return engine.decide(ToolCall(agent="coder", tool="shell.run", arguments={"command": command})).effect


def test_a_grant_made_or_revoked_on_one_host_applies_to_the_next_call_on_another(
    pg_url: str, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    policy = make_policy("p, *, shell.run, *, ask")
    host_a = _engine(policy, tmp_path, pg_url)  # two agents' engines, each with its own reader
    host_b = _engine(policy, tmp_path, pg_url)
    assert _effect(host_a, "git push") is Effect.ASK
    with PostgresApprovalStore(pg_url) as approver:
        queued = approver.submit(make_request(arguments={"command": "git push"}), Owner.current())
        _, grant = ApprovalDesk(approver, approver="alice").approve_always(queued.id, GrantScope.TOOL)
        assert grant is not None
        host_b.refresh_due()  # what the guard does before every decision
        decision = host_b.decide(ToolCall(agent="coder", tool="shell.run", arguments={"command": "ls"}))
        assert decision.effect is Effect.ALLOW  # the very next call
        assert decision.rule is not None
        assert decision.rule.file.endswith("#grants")
        assert _effect(host_a, "make") is Effect.ALLOW
        approver.revoke_grant(grant.id, "bob")
    assert _effect(host_a, "ls") is Effect.ASK
    assert _effect(host_b, "ls") is Effect.ASK


def test_a_database_that_is_down_fails_closed() -> None:
    down = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"  # the discard port: nothing listens
    with pytest.raises(ApprovalError, match="cannot connect"):
        PostgresApprovalStore(down)
    source = PostgresGrantSource(down, connect_timeout=1)
    with pytest.raises(ApprovalError, match="cannot read grants"):
        source.grants_version()


def _empty_database(pg_url: str, name: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return pg_url.rsplit("/", 1)[0] + "/" + name


def test_schema_versions_older_newer_and_upgrade(pg_url: str) -> None:
    url = _empty_database(pg_url, pg_url.rsplit("/", 1)[1] + "_e")
    try:
        with pytest.raises(ApprovalError, match=r"schema is version 0.*run `agentguard db upgrade`"):
            PostgresApprovalStore(url)
        db = Database(url, max_size=1)
        try:
            assert [m.version for m in upgrade(db)] == list(range(1, SCHEMA_VERSION + 1))
            assert upgrade(db) == []  # idempotent
            assert check_schema(db) == SCHEMA_VERSION
            with db.transaction() as conn:
                conn.execute(
                    "INSERT INTO agentguard_schema (version, name) VALUES (%s, 'future')",
                    (SCHEMA_VERSION + 1,),
                )
            with pytest.raises(DatabaseError, match="newer than this agentguard"):
                check_schema(db)
            with pytest.raises(DatabaseError, match="refusing to touch it"):
                upgrade(db)
        finally:
            db.close()
        with pytest.raises(ApprovalError, match="newer than this agentguard"):
            PostgresApprovalStore(url)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def test_timeout_and_a_late_answer(pg_url: str) -> None:
    with PostgresApprovalStore(pg_url) as store:
        request = make_request(timeout_s=0.3)
        result = QueueApprover(store).request(request)
        assert result.status is ApprovalStatus.TIMEOUT
        with pytest.raises(AlreadyAnswered, match="already timeout"):
            ApprovalDesk(store, approver="late").approve(request.call.id)

"""A host holding the audit chain's or the outbox hand-over's advisory lock (an open transaction that
took it, by hand or by an insert the chain trigger locked for) cannot stall other hosts: their waits
are bounded, retried once, and end in an error naming the role that holds the lock (the audit write
fails closed) or, for a hand-over, in the records staying owed. A request a host keeps locked does
not stall the approvers' sweeps or answers either. Real PostgreSQL roles."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest

from agentguard.approval import ApprovalDesk, PostgresApprovalStore, RequestState
from agentguard.audit import PostgresAuditLog
from agentguard.errors import ApprovalError, AuditError
from agentguard.testing import MemoryAudit

from .conftest import make_request
from .test_postgres_hosts import HOST_B, Fleet, fleet  # noqa: F401 - the fixture

_CHAIN_LOCK = 0x61676175
_OUTBOX_LOCK = 0x61676F62


def _bounded(work: threading.Thread, within: float) -> None:
    work.start()
    work.join(timeout=within)
    assert not work.is_alive(), f"still waiting after {within}s: the lock wait is not bounded"


def test_a_host_holding_the_chain_lock_cannot_stall_another_hosts_audit(fleet: Fleet) -> None:  # noqa: F811
    with psycopg.connect(fleet.a) as holder:  # host A takes the chain's lock and sits on it
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (_CHAIN_LOCK,))
        log = PostgresAuditLog(fleet.b, lock_wait_s=0.2)
        raised: list[BaseException] = []

        def append() -> None:
            try:
                log.record("call.received", tool="shell.run")
            except AuditError as exc:
                raised.append(exc)

        started = time.monotonic()
        _bounded(threading.Thread(target=append), within=10)
        assert time.monotonic() - started >= 0.4  # waited twice (one retry), then gave up
        assert len(raised) == 1
        message = str(raised[0])
        assert "audit chain lock" in message
        assert fleet.role_a in message  # who holds it, by the database
        holder.rollback()
    log.record("call.received", tool="shell.run")  # the lock is free again: appends work
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        assert conn.execute("SELECT db_role FROM ag_audit").fetchall() == [(fleet.role_b,)]
    log.close()


def test_a_host_holding_the_hand_over_lock_leaves_records_owed(
    fleet: Fleet,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # no audit log: B's record stays owed
        queued = b.submit(make_request(), HOST_B)
        b.close_unanswered(queued.id, RequestState.ABANDONED, "gave up")
    audit = MemoryAudit()
    with psycopg.connect(fleet.a) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (_OUTBOX_LOCK,))
        opened: list[PostgresApprovalStore] = []
        with caplog.at_level(logging.WARNING, logger="agentguard.approval"):
            _bounded(
                threading.Thread(
                    target=lambda: opened.append(
                        PostgresApprovalStore(fleet.approver, sweep=False, audit=audit, lock_wait_s=0.2)
                    )
                ),
                within=10,
            )
        assert len(opened) == 1  # the approver's store opens; the hand-over waits for another time
        assert audit.events == []
        assert fleet.role_a in caplog.text
        assert "stay owed" in caplog.text
        holder.rollback()
    approver = opened[0]
    try:
        assert approver.flush_audit() == 1  # handed over once the lock is free
        assert audit.events == ["approval.abandoned"]
    finally:
        approver.close()


def test_a_host_keeping_its_owed_rows_locked_cannot_stall_the_approvers(fleet: Fleet) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # no audit log: B's record stays owed
        queued = b.submit(make_request(), HOST_B)
        b.close_unanswered(queued.id, RequestState.ABANDONED, "gave up")
    audit = MemoryAudit()
    with psycopg.connect(fleet.b) as holder:  # host B deletes its own owed row and leaves it open
        taken = holder.execute("SELECT ag_outbox_handed_over(array(SELECT seq FROM ag_outbox))").fetchone()
        assert taken == (1,)
        opened: list[PostgresApprovalStore] = []
        _bounded(
            threading.Thread(
                target=lambda: opened.append(
                    PostgresApprovalStore(fleet.approver, sweep=False, audit=audit, lock_wait_s=0.2)
                )
            ),
            within=10,
        )
        assert len(opened) == 1
        holder.rollback()
    approver = opened[0]
    try:
        assert approver.flush_audit() == 1  # still owed: handed over again (at least once)
        assert audit.events == ["approval.abandoned", "approval.abandoned"]
    finally:
        approver.close()


def test_a_host_keeping_its_request_locked_cannot_stall_the_approvers(fleet: Fleet) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        held = b.submit(make_request(), HOST_B).ref
        other = b.submit(make_request(), HOST_B).ref
    with psycopg.connect(fleet.owner, autocommit=True) as conn:  # host B went silent long ago
        conn.execute("UPDATE ag_owners SET seen_at = '2000-01-01'")
    with psycopg.connect(fleet.b) as holder:  # host B locks one of its pending requests and sits on it
        held_id = held.partition("@")[0]
        assert holder.execute("SELECT id FROM ag_requests WHERE id = %s FOR UPDATE", (held_id,)).fetchall()
        with PostgresApprovalStore(fleet.approver, sweep=False, owner_stale_s=1, lock_wait_s=0.2) as approver:
            swept: list[list[str]] = []
            _bounded(threading.Thread(target=lambda: swept.append(approver.sweep())), within=10)
            assert swept == [[other]]  # the locked one is left for the next sweep, the rest are swept
            raised: list[ApprovalError] = []

            def deny() -> None:
                try:
                    ApprovalDesk(approver, approver="alice").deny(held, "no")
                except ApprovalError as exc:
                    raised.append(exc)

            _bounded(threading.Thread(target=deny), within=10)
            assert len(raised) == 1
            assert "locked" in str(raised[0])
            holder.rollback()
            assert approver.sweep() == [held]


def test_a_host_cannot_lock_the_outbox_table(fleet: Fleet) -> None:  # noqa: F811
    """Table-level DELETE on ag_outbox let a host take LOCK TABLE ... ACCESS EXCLUSIVE on it: every
    approver's store then failed to open (its hand-over's read timed out) and every sweep and grant
    failed, with an error blaming a row lock and naming no holder."""
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # no audit log: B's record stays owed
        queued = b.submit(make_request(), HOST_B)
        b.close_unanswered(queued.id, RequestState.ABANDONED, "gave up")
    with psycopg.connect(fleet.a) as holder:
        for mode in ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                holder.execute(f"LOCK TABLE ag_outbox IN {mode} MODE")
            holder.rollback()
    audit = MemoryAudit()
    with PostgresApprovalStore(fleet.b, sweep=False, audit=audit) as b:  # B still hands over its own
        assert audit.events == ["approval.abandoned"]
        assert b.flush_audit() == 0  # and deleted it


def test_a_host_in_an_open_transaction_cannot_stall_the_upgrade(fleet: Fleet) -> None:  # noqa: F811
    """A host reading a table in a transaction it leaves open (ACCESS SHARE) kept ``db upgrade``
    waiting for ever, and every session after it queued behind the upgrade's table lock: the whole
    fleet stalled. The upgrade's lock waits are bounded and name the holder; nothing is applied."""
    from agentguard.database import Database, DatabaseError, schema_version, upgrade

    from .test_postgres_host_reads import _as_the_older_roles_sql_left_it

    approver_role = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    _as_the_older_roles_sql_left_it(fleet, approver_role)
    db = Database(fleet.owner, max_size=1)
    try:
        with psycopg.connect(fleet.a) as holder:
            holder.execute("SELECT count(*) FROM ag_requests")  # and the transaction stays open
            raised: list[BaseException] = []

            def run() -> None:
                try:
                    upgrade(db, lock_wait_s=0.2)
                except DatabaseError as exc:
                    raised.append(exc)

            _bounded(threading.Thread(target=run), within=10)
            assert len(raised) == 1
            assert fleet.role_a in str(raised[0])
            assert "upgrade" in str(raised[0])
            holder.rollback()
        assert schema_version(db) == 5  # nothing half applied
        assert [m.name for m in upgrade(db)] == ["host_reads", "outbox_hand_over", "request_ids_per_host"]
    finally:
        db.close()


def test_a_host_holding_the_chain_lock_leaves_the_approvers_records_owed(
    fleet: Fleet,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hand-over appends to the audit chain: a host holding the chain's lock (with a record of its
    own owed, which any host can write) made every approver's store fail to open, and an answer with
    a grant raise after it was committed (the approver told it failed). The records stay owed."""
    from agentguard.approval import GrantScope

    with psycopg.connect(fleet.b, autocommit=True) as conn:  # host B owes a record of its own making
        conn.execute("INSERT INTO ag_outbox (event, fields) VALUES ('approval.abandoned', '{}')")
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        asked = b.submit(make_request(), HOST_B).id
    log = PostgresAuditLog(fleet.approver, lock_wait_s=0.1)
    try:
        with psycopg.connect(fleet.a) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (_CHAIN_LOCK,))
            with (
                caplog.at_level(logging.WARNING, logger="agentguard.approval"),
                PostgresApprovalStore(fleet.approver, sweep=False, audit=log, lock_wait_s=0.1) as approver,
            ):
                answered, grant = ApprovalDesk(approver, approver="alice").approve_always(
                    asked, GrantScope.TOOL
                )
                assert answered.state is RequestState.APPROVED
                assert grant.host_role == fleet.role_b
            assert fleet.role_a in caplog.text
            assert "stay owed" in caplog.text
            holder.rollback()
        with PostgresApprovalStore(fleet.approver, sweep=False, audit=log) as approver:
            assert approver.flush_audit() == 0  # handed over on opening, now the lock is free
        with psycopg.connect(fleet.owner, autocommit=True) as conn:
            events = [row[0] for row in conn.execute("SELECT event FROM ag_audit ORDER BY seq")]
        assert events == ["approval.abandoned", "grant.created"]
    finally:
        log.close()

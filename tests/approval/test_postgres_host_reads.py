"""What a host may read: its own requests, heartbeats and owed records, and the grants that apply to it.
Another host's requests (tool names, arguments: perhaps secrets) and the grants scoped to it are not
a host's to read; approvers read everything. Real roles; every read here succeeded before."""

from __future__ import annotations

import psycopg
import pytest

from agentguard.approval import (
    ApprovalDesk,
    GrantScope,
    PostgresApprovalStore,
    PostgresGrantSource,
    QueueApprover,
)
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus

from .conftest import make_request, wait_until
from .test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture

_SECRET = {"command": "curl -H 'Authorization: Bearer s3cr3t' https://example.test"}


def _b_asks(fleet: Fleet) -> str:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        return b.submit(make_request(arguments=_SECRET), HOST_B).id


def test_a_host_cannot_read_another_hosts_requests(fleet: Fleet) -> None:  # noqa: F811
    theirs = _b_asks(fleet)
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ag_requests").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM ag_owners").fetchone() == (0,)  # B's heartbeat
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        mine = a.submit(make_request(), HOST_A)
        assert [q.id for q in a.pending()] == [mine.id]
        assert [q.id for q in a.recent()] == [mine.id]
        for look in (a.get, a.lookup):
            with pytest.raises(ApprovalError, match="no approval request"):
                look(theirs)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:  # approvers read every host's
        assert [q.id for q in approver.pending()] == [theirs, mine.id]
        assert approver.get(theirs).call.arguments == _SECRET
        with psycopg.connect(fleet.approver, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM ag_owners").fetchone() == (2,)


def test_a_host_reads_only_the_grants_that_apply_to_it(fleet: Fleet) -> None:  # noqa: F811
    theirs = _b_asks(fleet)
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        mine = a.submit(make_request(tool="files.read", arguments={"path": "/etc/hosts"}), HOST_A).id
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        desk = ApprovalDesk(approver, approver="alice")
        _, for_b = desk.approve_always(theirs, GrantScope.CALL)  # holds B's secret argument
        _, for_a = desk.approve_always(mine, GrantScope.TOOL)
        assert {g.id for g in approver.grants()} == {for_a.id, for_b.id}
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        wide = b.submit(make_request(tool="web.get", arguments={"url": "https://example.test"}), HOST_B)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        desk = ApprovalDesk(approver, approver="alice")
        _, every = desk.approve_always(wide.id, GrantScope.TOOL, all_hosts=True)
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        rows = conn.execute("SELECT id FROM ag_grants ORDER BY seq").fetchall()
    assert rows == [(for_a.id,), (every.id,)]
    source = PostgresGrantSource(fleet.a)
    try:
        rules = source.grants_snapshot()[1]
    finally:
        source.close()
    assert for_a.id in rules
    assert every.id in rules
    assert for_b.id not in rules  # host B's call, with its secret argument


def test_a_hosts_waiter_gets_its_answer(fleet: Fleet) -> None:  # noqa: F811
    import threading

    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        results: list[ApprovalStatus] = []
        waiter = threading.Thread(
            target=lambda: results.append(QueueApprover(a).request(make_request(timeout_s=30)).status)
        )
        waiter.start()
        with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
            wait_until(lambda: bool(approver.pending()), what="host A's request")
            (asked,) = approver.pending()
            ApprovalDesk(approver, approver="alice").approve(asked.id)
        waiter.join(timeout=30)
    assert results == [ApprovalStatus.APPROVED]


def test_notifications_carry_no_request_content(fleet: Fleet) -> None:  # noqa: F811
    with psycopg.connect(fleet.a, autocommit=True) as listener:
        listener.execute("LISTEN agentguard_approvals")
        theirs = _b_asks(fleet)
        with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
            ApprovalDesk(approver, approver="alice").deny(theirs, "no")
        payloads = [n.payload for n in listener.notifies(timeout=10, stop_after=2)]
    assert payloads == ["", ""]  # B's submit and the answer: that something changed, never what


def _as_the_older_roles_sql_left_it(fleet: Fleet, approver: str) -> None:  # noqa: F811
    """The policies of the roles SQL before schema 6 (every host read every request, heartbeat and
    grant), on a database at schema 5."""
    with psycopg.connect(fleet.owner, autocommit=True) as owner:
        owner.execute("ALTER POLICY ag_agent_read ON ag_requests USING (true)")
        owner.execute("DROP POLICY ag_owners_own ON ag_owners")
        owner.execute(f"ALTER POLICY ag_owners_read ON ag_owners TO {fleet.agent}, {approver}")
        owner.execute("DROP POLICY ag_grants_agent_read ON ag_grants")
        owner.execute("DROP POLICY ag_grants_approver ON ag_grants")
        owner.execute("ALTER TABLE ag_grants DISABLE ROW LEVEL SECURITY")
        owner.execute("DROP FUNCTION ag_outbox_handed_over(bigint[])")  # and schema 7's hand-over
        owner.execute(f"GRANT DELETE ON ag_outbox TO {fleet.agent}")
        owner.execute("DELETE FROM agentguard_schema WHERE version >= 6")


def test_the_upgrade_closes_reads_the_older_roles_sql_opened(fleet: Fleet) -> None:  # noqa: F811
    from agentguard.database import Database, upgrade

    approver_role = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    theirs = _b_asks(fleet)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        _, for_b = ApprovalDesk(approver, approver="alice").approve_always(theirs, GrantScope.CALL)
    _as_the_older_roles_sql_left_it(fleet, approver_role)
    with psycopg.connect(fleet.a, autocommit=True) as conn:  # as it was: host A reads B's rows
        for table in ("ag_requests", "ag_owners", "ag_grants"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,), table
    db = Database(fleet.owner, max_size=1)
    try:
        assert [m.name for m in upgrade(db)] == ["host_reads", "outbox_hand_over", "request_ids_per_host"]
    finally:
        db.close()
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        for table in ("ag_requests", "ag_owners", "ag_grants"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():  # schema 7
            conn.execute("LOCK TABLE ag_outbox IN ACCESS EXCLUSIVE MODE")  # no table lock either
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # host B still reads its own
        assert b.get(theirs).grant_id == for_b.id
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:  # the approver reads all
        assert [g.id for g in approver.grants()] == [for_b.id]
        with psycopg.connect(fleet.approver, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM ag_owners").fetchone() == (1,)

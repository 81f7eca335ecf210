"""What a host writes is data to the approvers, never a way to stop them: a request row or an owed
audit record a host shaped so that it cannot be read must not take every other host's requests out
of the approvers' sight, or keep an approver store with an audit log from opening. Real roles."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from agentguard.approval import ApprovalDesk, PostgresApprovalStore, RequestState
from agentguard.database import roles_sql
from agentguard.errors import ApprovalError
from agentguard.testing import MemoryAudit

from .conftest import make_request
from .test_postgres_hosts import HOST_B, Fleet, fleet  # noqa: F401 - the fixture

_ROW = (
    "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host)"
    " VALUES (%s, 'coder', 'shell.run', %s, %s, %s, 1, 'host-a')"
)
_UNREADABLE = [
    ("bad-json", "not json", 0.0, 4e9),
    ("bad-shape", '{"call": 1}', 0.0, 4e9),
    ("bad-deadline", None, 0.0, float("inf")),
    ("bad-submitted", None, float("nan"), 4e9),
    ("far-deadline", None, 0.0, 1e300),
    ("another-call", None, 0.0, 4e9),  # a row whose request is filed under another call's id
]


def test_unreadable_request_rows_do_not_hide_other_hosts_requests(fleet: Fleet) -> None:  # noqa: F811
    ids = []
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        for label, text, submitted, deadline in _UNREADABLE:
            good = make_request()  # text None: this request, under its own call id (another-call: not)
            row_id = label if text is not None or label == "another-call" else good.call.id
            conn.execute(_ROW, (row_id, text or good.model_dump_json(), submitted, deadline))
            ids.append(row_id)
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        asked = b.submit(make_request(tool="files.read", arguments={"path": "/etc/hosts"}), HOST_B)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        assert [q.id for q in approver.pending()] == [asked.id]
        assert [q.id for q in approver.recent()] == [asked.id]
        for row_id in ids:
            with pytest.raises(ApprovalError, match="cannot be read"):
                approver.get(row_id)
        ApprovalDesk(approver, approver="alice").approve(asked.id)
        approver.sweep()  # the sweep reads the same rows: it must not stop at them either


@pytest.mark.parametrize("fields", ["[1]", "null", "not json", '"text"'])
def test_an_unreadable_owed_record_is_handed_over_as_it_is(fleet: Fleet, fields: str) -> None:  # noqa: F811
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        conn.execute("INSERT INTO ag_outbox (event, fields) VALUES ('approval.abandoned', %s)", (fields,))
    audit = MemoryAudit()
    with PostgresApprovalStore(fleet.approver, sweep=False, audit=audit):  # hands it over on opening
        pass
    assert audit.events == ["approval.abandoned"]
    assert audit.records[0]["unreadable_fields"] == fields
    assert audit.records[0]["owed_by_role"] == fleet.role_a
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ag_outbox").fetchone() == (0,)


class _BIsOwedOneMore(MemoryAudit):
    """An approver's audit log; while it takes the first handed-over record, host B commits a new owed
    record (a real interleaving: another host's transaction committing during the hand-over)."""

    def __init__(self, fleet: Fleet) -> None:  # noqa: F811
        super().__init__()
        self.fleet = fleet

    def record(self, event: str, /, **fields: object) -> None:
        if not self.records:
            with psycopg.connect(self.fleet.b, autocommit=True) as b:
                b.execute(
                    "INSERT INTO ag_outbox (event, fields) VALUES ('approval.abandoned', '{\"late\": 1}')"
                )
        super().record(event, **fields)


def test_an_owed_record_committed_during_a_hand_over_is_not_dropped(fleet: Fleet) -> None:  # noqa: F811
    # an owed row with a seq above the one host B's record will take (a transaction that took its seq
    # later but committed first; before the roles SQL kept hosts from naming seq, any host's own row)
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        conn.execute("INSERT INTO ag_outbox (seq, event, fields) VALUES (%s, 'x', '{}')", (2**63 - 1,))
    audit = _BIsOwedOneMore(fleet)
    with PostgresApprovalStore(fleet.approver, sweep=False, audit=audit) as approver:
        handed = [r for r in audit.records if r.get("late") == 1]
        with psycopg.connect(fleet.owner, autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM ag_outbox WHERE fields LIKE '%late%'").fetchone()
        assert handed or left == (1,), "host B's owed record was deleted without being handed over"
        approver.flush_audit()
    assert [r for r in audit.records if r.get("late") == 1]  # handed over by the next flush at the latest


def test_a_host_cannot_squat_the_seqs_other_hosts_submits_will_take(fleet: Fleet) -> None:  # noqa: F811
    with psycopg.connect(fleet.owner, autocommit=True) as owner:  # as the older roles SQL left it, rerun
        owner.execute(f"GRANT INSERT ON ag_requests, ag_outbox TO {fleet.agent}")
        owner.execute(roles_sql(agent=fleet.agent, approver=fleet.approver.split("://", 1)[1].split("@")[0]))
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        for table, sequence in (("ag_requests", "ag_requests_seq_seq"), ("ag_outbox", "ag_outbox_seq_seq")):
            (upcoming,) = conn.execute(f"SELECT nextval('{sequence}')").fetchone()
            request = make_request()
            with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                if table == "ag_requests":
                    conn.execute(
                        "INSERT INTO ag_requests (seq, id, agent, tool, request, submitted_at, deadline,"
                        " owner_pid, owner_host) VALUES (%s, %s, 'coder', 'shell.run', %s, 0, 4e9, 1, 'a')",
                        (upcoming + 1, request.call.id, request.model_dump_json()),
                    )
                else:
                    conn.execute(
                        "INSERT INTO ag_outbox (seq, event, fields) VALUES (%s, 'x', '{}')", (upcoming + 1,)
                    )
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # host B's next submit and owed record
        queued = b.submit(make_request(), HOST_B)
        assert (
            b.close_unanswered(queued.id, RequestState.ABANDONED, "gave up").state is RequestState.ABANDONED
        )

"""The approval store on both backends (SQLite, PostgreSQL): atomic answers, prefixes, waking waiters,
restarts of the approver side. The SQLite-only checks (WAL, a corrupt file) say so."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.approval import (
    AlreadyAnswered,
    Answer,
    ApprovalDesk,
    ApprovalStore,
    Owner,
    QueueApprover,
    RequestState,
    SqliteApprovalStore,
)
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus
from agentguard.testing import MemoryAudit

from .conftest import Backend, make_request, wait_until


@pytest.fixture
def store(backend: Backend) -> Iterator[ApprovalStore]:
    s = backend.open(poll_interval=0.02)
    yield s
    s.close()


def test_store_satisfies_protocol(store: ApprovalStore) -> None:
    assert isinstance(store, ApprovalStore)


def test_sqlite_store_is_wal(home: Path) -> None:
    SqliteApprovalStore(home).close()
    mode = sqlite3.connect(home / "approvals.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_submit_get_and_pending_order(store: ApprovalStore) -> None:
    owner = Owner.current()
    first = store.submit(make_request(arguments={"command": "one"}), owner)
    second = store.submit(make_request(arguments={"command": "two"}), owner)
    assert [q.id for q in store.pending()] == [first.id, second.id]
    got = store.get(first.id)
    assert got.state is RequestState.PENDING
    assert got.call.arguments == {"command": "one"}
    assert got.owner == owner
    assert got.request.decision.rule_id == "policy.csv:7"
    with pytest.raises(ApprovalError, match="already in the approval queue"):
        store.submit(make_request(call_id=first.id), owner)


def test_lookup_by_unique_prefix(store: ApprovalStore) -> None:
    owner = Owner.current()
    a = store.submit(make_request(call_id="abc1" + "0" * 28), owner)
    store.submit(make_request(call_id="abc2" + "0" * 28), owner)
    assert store.lookup("abc1").id == a.id
    assert store.lookup("ABC1").id == a.id
    with pytest.raises(ApprovalError, match="more than one request"):
        store.lookup("abc")
    with pytest.raises(ApprovalError, match="no approval request matches"):
        store.lookup("ffff")
    with pytest.raises(ApprovalError, match="not a request id"):
        store.lookup("abc' OR 1=1 --")


def test_an_answer_is_applied_once(store: ApprovalStore) -> None:
    q = store.submit(make_request(), Owner.current())
    desk = ApprovalDesk(store, approver="alice", channel="cli")
    done = desk.deny(q.id, "not on Fridays")
    assert done.state is RequestState.DENIED
    assert (done.approver, done.channel, done.reason) == ("alice", "cli", "not on Fridays")
    with pytest.raises(AlreadyAnswered, match="already denied by alice"):
        ApprovalDesk(store, approver="bob").approve(q.id)
    assert store.get(q.id).state is RequestState.DENIED


def test_racing_approvers_exactly_one_wins(store: ApprovalStore, backend: Backend) -> None:
    q = store.submit(make_request(), Owner.current())
    winners: list[str] = []
    losers: list[str] = []
    gate = threading.Barrier(20)

    def answer(i: int) -> None:
        own = backend.open(sweep=False)  # each approver has its own connection
        try:
            gate.wait()
            ApprovalDesk(own, approver=f"approver-{i}").approve(q.id)
            winners.append(f"approver-{i}")
        except AlreadyAnswered:
            losers.append(f"approver-{i}")
        finally:
            own.close()

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert len(losers) == 19
    assert store.get(q.id).approver == winners[0]


def test_deny_needs_a_reason_and_edit_needs_an_object(store: ApprovalStore) -> None:
    q = store.submit(make_request(), Owner.current())
    desk = ApprovalDesk(store, approver="alice")
    with pytest.raises(ApprovalError, match="needs a reason"):
        desk.deny(q.id, "   ")
    with pytest.raises(ApprovalError, match="JSON object"):
        desk.approve(q.id, edited_arguments=["rm"])  # type: ignore[arg-type]
    with pytest.raises(ApprovalError, match="approved or denied"):
        store.resolve(q.id, Answer(status=ApprovalStatus.TIMEOUT, approver="x", channel="cli"))
    assert store.get(q.id).pending


def test_wait_for_change_wakes_on_a_write_from_another_connection(
    store: ApprovalStore, backend: Backend
) -> None:
    seen = store.version()
    other = backend.open(sweep=False)
    writer = threading.Thread(target=lambda: other.submit(make_request(), Owner.current()))
    try:
        writer.start()
        assert store.wait_for_change(seen, timeout=10) != seen
    finally:
        writer.join(10)  # the writer reads its request back after the commit that woke us
        other.close()


def test_wait_for_change_times_out_without_writes(store: ApprovalStore) -> None:
    seen = store.version()
    assert store.wait_for_change(seen, timeout=0.05) == seen


async def test_await_change_wakes_without_holding_a_thread(store: ApprovalStore, backend: Backend) -> None:
    seen = store.version()
    other = backend.open(sweep=False)
    try:
        waiter = asyncio.create_task(store.await_change(seen, timeout=10))
        await asyncio.sleep(0)
        other.submit(make_request(), Owner.current())
        assert await waiter != seen
    finally:
        other.close()


def test_pending_request_survives_an_approver_restart(backend: Backend) -> None:
    """The agent keeps waiting while the approver side closes and reopens the queue."""
    agent_store = backend.open(poll_interval=0.02)
    approver = QueueApprover(agent_store)
    request = make_request()
    results = []
    worker = threading.Thread(target=lambda: results.append(approver.request(request)))
    worker.start()
    try:
        first = backend.open()
        wait_until(lambda: len(first.pending()) == 1, what="the request to be queued")
        first.close()  # the approver quits ...
        second = backend.open()  # ... and comes back
        assert [q.id for q in second.pending()] == [request.call.id]
        ApprovalDesk(second, approver="alice", channel="tui").approve(request.call.id)
        second.close()
        worker.join(10)
        assert results
        assert results[0].status is ApprovalStatus.APPROVED
        assert (results[0].approver, results[0].channel) == ("alice", "tui")
    finally:
        worker.join(1)
        agent_store.close()


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "approvals.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ApprovalError, match=r"approvals\.db"):
        SqliteApprovalStore(home)


class _OwedDuringHandOver(MemoryAudit):
    """An audit log that, while it takes the first handed-over record, sees one more record owed with a
    seq below the last one the hand-over read (written through the hand-over's own connection: the
    only writer SQLite lets in while the hand-over holds the write lock; a seq is any free number)."""

    def __init__(self, store: SqliteApprovalStore) -> None:
        super().__init__()
        self.store = store

    def record(self, event: str, /, **fields: object) -> None:
        if not self.records:
            self.store._db.execute(
                "INSERT INTO outbox (seq, event, fields) VALUES (0, 'approval.abandoned', '{\"late\": 1}')"
            )
        super().record(event, **fields)


def test_an_owed_record_written_during_a_sqlite_hand_over_is_not_dropped(home: Path) -> None:
    with SqliteApprovalStore(home) as store:
        _hand_over_while_owing(store)


def _hand_over_while_owing(store: SqliteApprovalStore) -> None:
    for _ in range(2):  # no audit log yet: both abandonments stay owed (seqs 1 and 2)
        queued = store.submit(make_request(), Owner.current())
        store.close_unanswered(queued.id, RequestState.ABANDONED, "gave up")
    audit = _OwedDuringHandOver(store)
    store.audit = audit
    assert store.flush_audit() == 2
    assert [r.get("late") for r in audit.records] == [None, None]
    assert [tuple(r) for r in store._db.execute("SELECT seq FROM outbox")] == [
        (0,)
    ]  # still owed, not deleted
    assert store.flush_audit() == 1
    assert audit.records[-1]["late"] == 1

"""A submission whose answer the connection lost (a database restarting between the commit and its
acknowledgement) was refused as "approval channel failed" while its row stayed queued: a person could
approve a call that had already been refused (the fleet test caught one). The approver now tries again
until its deadline, and a request already queued under the call's id is waited on as its own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentguard.approval import Answer, Owner, QueueApprover, SqliteApprovalStore
from agentguard.approval._records import QueuedRequest
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalRequest, ApprovalStatus

from .conftest import make_request, wait_until


class FlakyStore(SqliteApprovalStore):
    """A real queue whose first ``submit`` fails on a lost connection: ``after_commit`` says whether
    the row was written first (the acknowledgement lost) or not (the write lost)."""

    def __init__(self, path: Path, *, after_commit: bool) -> None:
        super().__init__(path)
        self.after_commit = after_commit
        self.failures = 1

    def submit(self, request: ApprovalRequest, owner: Owner) -> QueuedRequest:
        if self.failures:
            self.failures -= 1
            if self.after_commit:  # the first attempt's row is written; later ones never get through
                self.after_commit = False
                super().submit(request, owner)
            raise ApprovalError("approval queue: terminating connection", transient=True)
        return super().submit(request, owner)


def approve_when_queued(store: SqliteApprovalStore) -> threading.Thread:
    def run() -> None:
        wait_until(lambda: bool(store.pending()), 10, "the request to be queued")
        answer = Answer(status=ApprovalStatus.APPROVED, approver="ops", channel="cli")
        store.resolve(store.pending()[0].id, answer)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("after_commit", [True, False])
def test_a_lost_submission_is_retried_and_its_answer_kept(tmp_path: Path, after_commit: bool) -> None:
    store = FlakyStore(tmp_path / "approvals.db", after_commit=after_commit)
    approver = approve_when_queued(store)
    result = QueueApprover(store).request(make_request(timeout_s=10))
    approver.join()
    assert result.status is ApprovalStatus.APPROVED
    assert len(store.recent()) == 1


@pytest.mark.parametrize("after_commit", [True, False])
async def test_a_lost_submission_is_retried_and_its_answer_kept_async(
    tmp_path: Path, after_commit: bool
) -> None:
    store = FlakyStore(tmp_path / "approvals.db", after_commit=after_commit)
    approver = approve_when_queued(store)
    result = await QueueApprover(store).arequest(make_request(timeout_s=10))
    approver.join()
    assert result.status is ApprovalStatus.APPROVED


@pytest.mark.parametrize("after_commit", [True, False])
def test_a_submission_that_never_gets_through_fails_and_leaves_nothing_pending(
    tmp_path: Path, after_commit: bool
) -> None:
    """Refused at the deadline; a row the first attempt wrote is closed, so nobody can approve a
    call that was refused."""
    store = FlakyStore(tmp_path / "approvals.db", after_commit=after_commit)
    store.failures = 10**6  # the database never comes back within the deadline
    with pytest.raises(ApprovalError):
        QueueApprover(store).request(make_request(timeout_s=1))
    assert store.pending() == []

"""QueueApprover: the guard's side. Answers, timeouts, interruption, dead agents; on both backends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.approval import (
    AlreadyAnswered,
    ApprovalDesk,
    ApprovalStore,
    Owner,
    QueueApprover,
    RequestState,
)
from agentguard.models import ApprovalResult, ApprovalStatus
from agentguard.testing import MemoryAudit

from .conftest import Backend, make_request, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(backend: Backend) -> Iterator[ApprovalStore]:
    s = backend.open(poll_interval=0.02)
    yield s
    s.close()


def _ask_in_thread(approver: QueueApprover, request: object) -> tuple[threading.Thread, list[ApprovalResult]]:
    results: list[ApprovalResult] = []
    worker = threading.Thread(target=lambda: results.append(approver.request(request)))  # type: ignore[arg-type]
    worker.start()
    return worker, results


def test_approve_once_reaches_the_waiting_call(store: ApprovalStore) -> None:
    request = make_request()
    worker, results = _ask_in_thread(QueueApprover(store), request)
    wait_until(lambda: bool(store.pending()), what="the request to be queued")
    ApprovalDesk(store, approver="alice", channel="cli").approve(request.call.id)
    worker.join(10)
    (result,) = results
    assert result.status is ApprovalStatus.APPROVED
    assert (result.approver, result.channel, result.scope) == ("alice", "cli", "once")
    assert result.edited_arguments is None
    assert result.waited_s > 0


def test_deny_reason_reaches_the_call(store: ApprovalStore) -> None:
    request = make_request()
    worker, results = _ask_in_thread(QueueApprover(store), request)
    wait_until(lambda: bool(store.pending()), what="the request to be queued")
    ApprovalDesk(store, approver="alice").deny(request.call.id, "push to a branch, not main")
    worker.join(10)
    assert results[0].status is ApprovalStatus.DENIED
    assert results[0].reason == "push to a branch, not main"


def test_edited_arguments_reach_the_call(store: ApprovalStore) -> None:
    request = make_request(arguments={"command": "git push --force"})
    worker, results = _ask_in_thread(QueueApprover(store), request)
    wait_until(lambda: bool(store.pending()), what="the request to be queued")
    ApprovalDesk(store, approver="alice").approve(request.call.id, edited_arguments={"command": "git push"})
    worker.join(10)
    assert results[0].approved
    assert results[0].edited_arguments == {"command": "git push"}


def test_timeout_is_reported_and_closes_the_request(store: ApprovalStore) -> None:
    request = make_request(timeout_s=0.3)
    started = time.monotonic()
    result = QueueApprover(store).request(request)
    assert result.status is ApprovalStatus.TIMEOUT
    assert 0.3 <= time.monotonic() - started < 5
    assert result.waited_s >= 0.3
    assert store.get(request.call.id).state is RequestState.TIMEOUT
    with pytest.raises(AlreadyAnswered, match="already timeout"):
        ApprovalDesk(store, approver="late").approve(request.call.id)


async def test_async_request_is_answered(store: ApprovalStore) -> None:
    request = make_request()
    task = asyncio.create_task(QueueApprover(store).arequest(request))
    while not store.pending():
        await store.await_change(store.version(), 1)
    await asyncio.to_thread(ApprovalDesk(store, approver="alice").deny, request.call.id, "no")
    result = await asyncio.wait_for(task, 10)
    assert result.status is ApprovalStatus.DENIED


async def test_async_timeout(store: ApprovalStore) -> None:
    result = await QueueApprover(store).arequest(make_request(timeout_s=0.2))
    assert result.status is ApprovalStatus.TIMEOUT


async def test_cancelled_wait_abandons_the_request(store: ApprovalStore) -> None:
    request = make_request()
    task = asyncio.create_task(QueueApprover(store).arequest(request))
    while not store.pending():
        await store.await_change(store.version(), 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.get(request.call.id).state is RequestState.ABANDONED


def test_many_async_waiters_hold_no_threads(store: ApprovalStore) -> None:
    """200 awaiting calls on one event loop; each answer lands on its own call."""

    async def scenario() -> dict[str, ApprovalResult]:
        approver = QueueApprover(store)
        requests = [make_request(arguments={"command": f"job {i}"}) for i in range(200)]
        threads_before = threading.active_count()
        tasks = {r.call.id: asyncio.create_task(approver.arequest(r)) for r in requests}
        while len(store.pending()) < 200:
            await store.await_change(store.version(), 1)
        assert threading.active_count() <= threads_before + 1  # only the store's watcher
        desk = ApprovalDesk(store, approver="alice")
        for i, r in enumerate(requests):
            if i % 2:
                desk.deny(r.call.id, f"deny {r.call.id}")
            else:
                desk.approve(r.call.id)
        return {cid: await asyncio.wait_for(t, 10) for cid, t in tasks.items()}

    results = asyncio.run(scenario())
    for i, (cid, result) in enumerate(results.items()):
        if i % 2:
            assert result.status is ApprovalStatus.DENIED
            assert result.reason == f"deny {cid}"
        else:
            assert result.approved


_AGENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.approval.conftest import make_request, open_spec
    from agentguard.approval import QueueApprover
    store = open_spec({spec!r}, poll_interval=0.02)
    result = QueueApprover(store).request(make_request(call_id={call_id!r}, timeout_s=60))
    print(result.model_dump_json(), flush=True)
    """
)


def _spawn_agent(backend: Backend, call_id: str) -> subprocess.Popen[str]:
    code = _AGENT.format(repo=str(REPO), spec=backend.spec, call_id=call_id)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)


def test_answer_reaches_an_agent_in_another_process(store: ApprovalStore, backend: Backend) -> None:
    call_id = "a1" * 16
    agent = _spawn_agent(backend, call_id)
    try:
        wait_until(lambda: bool(store.pending()), what="the agent process to queue its request")
        assert store.pending()[0].owner.pid == agent.pid
        ApprovalDesk(store, approver="alice", channel="cli").deny(call_id, "cross-process no")
        out, _ = agent.communicate(timeout=20)
    finally:
        agent.kill()
    result = ApprovalResult.model_validate_json(out.strip())
    assert result.status is ApprovalStatus.DENIED
    assert result.reason == "cross-process no"


def test_dead_agent_requests_are_abandoned_by_the_next_opener(backend: Backend) -> None:
    call_id = "d0" * 16
    agent = _spawn_agent(backend, call_id)
    watcher = backend.open()
    try:
        wait_until(lambda: bool(watcher.pending()), what="the agent process to queue its request")
    finally:
        watcher.close()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(10)
    audit = MemoryAudit()
    reopened = backend.open(audit=audit)  # opening the store sweeps
    try:
        q = reopened.get(call_id)
        assert q.state is RequestState.ABANDONED
        assert "exited" in (q.reason or "")
        assert reopened.pending() == []
        assert audit.events == ["approval.abandoned"]
        assert audit.records[0]["call_id"] == call_id
        with pytest.raises(AlreadyAnswered):
            ApprovalDesk(reopened, approver="alice").approve(call_id)
    finally:
        reopened.close()


def test_sweep_leaves_live_owners_alone_and_catches_reused_pids(store: ApprovalStore) -> None:
    me = Owner.current()
    live = store.submit(make_request(), me)
    reused = store.submit(make_request(), Owner(pid=me.pid, host=me.host, start="other-boot:1"))
    other_host = store.submit(make_request(), Owner(pid=1, host="elsewhere.invalid", start=None))
    swept = store.sweep()
    assert swept == [reused.ref]  # its ref: the bare id on SQLite
    assert store.get(live.id).pending
    assert store.get(other_host.id).pending

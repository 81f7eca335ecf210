"""Whoever notices a dead waiter audits it; listing works in a read-only home; bad --expires is exit 2."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from agentguard.approval import GrantScope, Owner, QueueApprover, SqliteApprovalStore
from agentguard.approval._grants import new_grant
from agentguard.audit import AuditLog
from agentguard.cli import main
from agentguard.models import ToolCall
from agentguard.testing import MemoryAudit

from .conftest import make_request, wait_until

REPO = Path(__file__).resolve().parents[2]

WAITER = """
import sys
from pathlib import Path
from agentguard.approval import QueueApprover, SqliteApprovalStore
from agentguard.models import ApprovalRequest, Decision, Effect, ToolCall
call = ToolCall(id=sys.argv[2], agent="coder", tool="shell.run", arguments={"command": "make"})
request = ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="ask"), timeout_s=600)
QueueApprover(SqliteApprovalStore(Path(sys.argv[1]))).request(request)
"""


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def abandoned_records(home: Path) -> list[dict[str, object]]:
    path = home / "audit.jsonl"
    if not path.exists():
        return []
    records = [orjson.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["event"] == "approval.abandoned"]


@pytest.fixture
def killed_waiter(home: Path) -> Iterator[str]:
    """A guarded call waiting in another process, killed with kill -9; the request id."""
    call_id = "dead" + "0" * 28
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(home), call_id], env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        with SqliteApprovalStore(home, sweep=False) as store:
            wait_until(lambda: bool(store.pending()), timeout=30, what="the waiter to queue its request")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        yield call_id
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_cli_audits_an_abandonment_it_notices(home: Path, killed_waiter: str) -> None:
    out = run(home, "approvals", "deny", killed_waiter, "--reason", "too late")
    assert out.exit_code == 2
    assert "already abandoned" in out.stderr
    records = abandoned_records(home)
    assert [r["call_id"] for r in records] == [killed_waiter]
    assert records[0]["reason"] == "the agent process that asked has exited"


def test_a_bare_queue_approver_that_notices_first_is_audited_by_the_next_audited_store(
    home: Path, killed_waiter: str
) -> None:
    with SqliteApprovalStore(home) as bare:  # no audit log: e.g. QueueApprover(SqliteApprovalStore(home))
        assert bare.get(killed_waiter).state.value == "abandoned"
    assert abandoned_records(home) == []  # owed, not lost
    audit = AuditLog(home / "audit.jsonl")
    SqliteApprovalStore(home, audit=audit).close()  # the TUI, the CLI or an agent: whoever comes next
    audit.close()
    assert [r["call_id"] for r in abandoned_records(home)] == [killed_waiter]
    audit = AuditLog(home / "audit.jsonl")
    SqliteApprovalStore(home, audit=audit).close()
    audit.close()
    assert len(abandoned_records(home)) == 1  # handed over once


async def test_an_interrupted_wait_is_audited_as_abandoned(home: Path) -> None:
    audit = MemoryAudit()
    with SqliteApprovalStore(home, audit=audit) as store:
        request = make_request("shell.run", {"command": "make"})
        task = asyncio.ensure_future(QueueApprover(store).arequest(request))
        while not store.pending():
            await asyncio.sleep(0)  # let the task queue its request
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.get(request.call.id).state.value == "abandoned"
    records = [r for r in audit.records if r["event"] == "approval.abandoned"]
    assert [r["call_id"] for r in records] == [request.call.id]
    assert records[0]["reason"] == "the waiting call was interrupted"


def _read_only_home(home: Path) -> None:
    with SqliteApprovalStore(home) as store:
        store.submit(make_request("shell.run", {"command": "make"}), Owner.current())
        call = ToolCall(agent="coder", tool="fs.read", arguments={"path": "/x"})
        store.add_grant(new_grant(call, GrantScope.TOOL, created_by="alice", now=datetime.now(UTC)))
    with sqlite3.connect(home / "approvals.db") as db:  # as after the last process left: no -wal/-shm
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for name in ("approvals.db-wal", "approvals.db-shm"):
        (home / name).unlink(missing_ok=True)
    for path in home.iterdir():
        path.chmod(0o444)
    home.chmod(0o555)
    home.parent.chmod(0o755)


@pytest.mark.skipif(os.getuid() != 0, reason="switches to an unprivileged user (root ignores modes)")
def test_listing_works_in_a_read_only_home(tmp_path: Path) -> None:
    top = Path(tempfile.mkdtemp(prefix="agentguard-ro-"))  # outside pytest's private (0700) tree
    try:
        _listing_in_a_read_only_home(top / "home", tmp_path)
    finally:
        (top / "home").chmod(0o755)
        shutil.rmtree(top)


def _listing_in_a_read_only_home(home: Path, scratch: Path) -> None:
    _read_only_home(home)
    for args in (("approvals", "list", "--json"), ("grants", "list", "--json")):
        run(scratch / "warm", *args)  # import everything while we may still read it
    before = sorted(p.name for p in home.iterdir())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                outs = [run(home, "approvals", "list", "--json"), run(home, "grants", "list", "--json")]
                data: object = [{"code": o.exit_code, "out": o.stdout, "err": o.stderr} for o in outs]
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                data = [{"code": -1, "out": "", "err": repr(exc)}]
            os.write(write, orjson.dumps(data))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = orjson.loads(fh.read())
    os.waitpid(pid, 0)
    assert [d["code"] for d in data] == [0, 0], data
    assert [r["tool"] for r in orjson.loads(data[0]["out"])["requests"]] == ["shell.run"]
    assert [g["tool"] for g in orjson.loads(data[1]["out"])["grants"]] == ["fs.read"]
    assert sorted(p.name for p in home.iterdir()) == before  # nothing created, nothing changed


@pytest.mark.parametrize("expires", ["99999999999999w", "1" + "0" * 400 + "s", "3651d"])
def test_expires_out_of_range_is_a_clear_usage_error(home: Path, expires: str) -> None:
    with SqliteApprovalStore(home) as store:
        queued = store.submit(make_request("fs.read", {"path": "/x"}), Owner.current())
    out = run(home, "approvals", "approve", queued.id, "--always", "tool", "--expires", expires)
    assert out.exit_code == 2
    assert "too long" in out.stderr
    assert "Traceback" not in out.output
    with SqliteApprovalStore(home) as store:
        assert store.get(queued.id).pending

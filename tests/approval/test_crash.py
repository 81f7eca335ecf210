"""State that cannot lie: kill -9 at every step of "approve always" and "grants revoke".

Each operation runs in a subprocess that kills itself (SIGKILL) at its Nth fault step (every commit,
audit hand-off and grants.csv replacement is one), for N = 1, 2, ... until it completes. After each
death, what a policy engine that was running all along enforces must equal what the approval store
says; the next process to open the store completes the audit trail and the grants.csv export; and a
retry of the command completes the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.approval._faults import ENV
from agentguard.audit import AuditLog
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine

from .conftest import make_request

REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 40

APPROVE_ALWAYS = """
import sys
from pathlib import Path
from agentguard.approval import ApprovalDesk, GrantScope, SqliteApprovalStore
from agentguard.audit import AuditLog
home = Path(sys.argv[1])
audit = AuditLog(home / "audit.jsonl")
store = SqliteApprovalStore(home, audit=audit)
ApprovalDesk(store, approver="alice").approve_always(sys.argv[2], GrantScope.TOOL)
store.close()
audit.close()
"""


def _run(args: list[str], kill_at: int | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(ENV, None)
    if kill_at is not None:
        env[ENV] = str(kill_at)
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _events(home: Path, event: str) -> int:
    path = home / "audit.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if orjson.loads(line)["event"] == event)


def _enforced(engine: PolicyEngine) -> bool:
    engine.refresh_due()
    call = ToolCall(agent="coder", tool="shell.run", arguments={"command": "make"})
    return engine.decide(call).effect is Effect.ALLOW


def _in_db(home: Path) -> bool:
    with SqliteApprovalStore(home, sweep=False) as store:  # no audit: looking must not change anything
        return bool(store.grants())


def _next_process(home: Path) -> None:
    """Any later process with the audit log: it hands over owed records and re-exports grants.csv."""
    audit = AuditLog(home / "audit.jsonl")
    SqliteApprovalStore(home, audit=audit).close()
    audit.close()


def _export_has_grant(home: Path) -> bool:
    path = home / "grants.csv"
    return path.exists() and "p, coder, shell.run, *, allow" in path.read_text()


@pytest.fixture
def policy_dir(make_policy: Callable[..., Path]) -> Path:
    return make_policy("p, *, shell.run, *, ask")


def _crash_each_step(
    tmp_path: Path,
    setup: Callable[[Path], list[str]],
    check: Callable[[Path, PolicyEngine, subprocess.CompletedProcess[str]], None],
    policy_dir: Path,
) -> int:
    """Run the operation killed at step 1, 2, ... (fresh state each time); the number of steps."""
    for n in range(1, MAX_STEPS):
        home = tmp_path / f"n{n}"
        args = setup(home)
        engine = PolicyEngine.load(policy_dir, workspace=tmp_path, grants=grant_source(home))
        _enforced(engine)  # the engine is running before the operation starts
        done = _run(args, kill_at=n)
        if done.returncode == 0:
            return n - 1
        assert done.returncode == -signal.SIGKILL, done.stderr
        check(home, engine, done)
    pytest.fail(f"the operation did not complete within {MAX_STEPS} steps")


def test_approve_always_killed_at_every_step(tmp_path: Path, policy_dir: Path) -> None:
    def setup(home: Path) -> list[str]:
        with SqliteApprovalStore(home) as store:
            queued = store.submit(make_request("shell.run", {"command": "make"}), Owner.current())
        return ["-c", APPROVE_ALWAYS, str(home), queued.id]

    def check(home: Path, engine: PolicyEngine, _: Any) -> None:
        stored = _in_db(home)
        assert _enforced(engine) is stored  # the very next call, on the engine that ran all along
        _next_process(home)
        assert (_events(home, "grant.created") >= 1) is stored  # audited exactly when it happened
        assert _export_has_grant(home) is stored
        with SqliteApprovalStore(home) as store:
            assert [q.state.value for q in store.recent()] == ["approved" if stored else "pending"]

    steps = _crash_each_step(tmp_path, setup, check, policy_dir)
    assert steps >= 5  # commit (before, after), audit hand-off (and its commit), export


def test_grants_revoke_killed_at_every_step_then_retried(tmp_path: Path, policy_dir: Path) -> None:
    grant_ids: dict[Path, str] = {}

    def setup(home: Path) -> list[str]:
        home.mkdir(parents=True)
        audit = AuditLog(home / "audit.jsonl")
        with SqliteApprovalStore(home, audit=audit) as store:
            queued = store.submit(make_request("shell.run", {"command": "make"}), Owner.current())
            _, grant = ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.TOOL)
        audit.close()
        grant_ids[home] = grant.id
        return ["-m", "agentguard.cli", "--home", str(home), "grants", "revoke", grant.id, "--as", "bob"]

    def check(home: Path, engine: PolicyEngine, _: Any) -> None:
        stored = _in_db(home)  # still active in the store?
        assert _enforced(engine) is stored  # revocation fails closed: committed means not enforced
        retry = _run(["-m", "agentguard.cli", "--home", str(home), "grants", "revoke", grant_ids[home]], None)
        assert retry.returncode == 0, retry.stderr  # a retry completes the job, never "already revoked"
        assert "revoked grant" in retry.stdout
        assert not _in_db(home)
        assert not _enforced(engine)
        assert not _export_has_grant(home)
        # At least once, never lost: a kill between the audit write and its commit hands it over again.
        assert _events(home, "grant.revoked") in (1, 2)

    steps = _crash_each_step(tmp_path, setup, check, policy_dir)
    assert steps >= 5

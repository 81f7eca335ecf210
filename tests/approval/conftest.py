"""Fixtures for the approval queue: a real SQLite store in a temp state directory, and ``backend``:
the same tests on SQLite and on a real PostgreSQL database of their own."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentguard.approval import ApprovalStore, PostgresApprovalStore, SqliteApprovalStore
from agentguard.models import ApprovalRequest, Decision, Effect, RuleRef, ToolCall


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def open_spec(spec: str, **options: Any) -> ApprovalStore:
    """A store on ``spec``: a home directory (SQLite) or a ``postgresql://`` URL (also in subprocesses)."""
    if spec.startswith("postgresql://"):
        options.pop("poll_interval", None)  # PostgreSQL is woken by LISTEN/NOTIFY, not polled
        return PostgresApprovalStore(spec, **options)
    return SqliteApprovalStore(Path(spec), **options)


@dataclass(frozen=True)
class Backend:
    name: str
    spec: str

    def open(self, **options: Any) -> ApprovalStore:
        return open_spec(self.spec, **options)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, home: Path) -> Backend:
    """Where the store lives: each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("pg_url"))
    return Backend("sqlite", str(home))


@pytest.fixture
def store(home: Path) -> Iterator[SqliteApprovalStore]:
    s = SqliteApprovalStore(home, poll_interval=0.02)
    yield s
    s.close()


def make_request(
    tool: str = "shell.run",
    arguments: dict[str, Any] | None = None,
    *,
    agent: str = "coder",
    timeout_s: float = 30.0,
    call_id: str | None = None,
) -> ApprovalRequest:
    call_kw: dict[str, Any] = {
        "agent": agent,
        "tool": tool,
        "arguments": arguments or {"command": "git push"},
    }
    if call_id is not None:
        call_kw["id"] = call_id
    rule = RuleRef(file="policy.csv", line=7, text="p, *, shell.run, *, ask")
    decision = Decision(effect=Effect.ASK, rule=rule, reason="asked by policy.csv:7")
    return ApprovalRequest(call=ToolCall(**call_kw), decision=decision, timeout_s=timeout_s)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def db_roles_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``agentguard db roles ARGS`` as a deployment runs it (a process of its own); not checked."""
    return subprocess.run(
        [sys.executable, "-m", "agentguard.cli", "db", "roles", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )

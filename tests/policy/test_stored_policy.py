"""Policies in the shared database: push a folder as a version, pull it back, and an engine that
follows pushes (woken by NOTIFY) and names the version in every rule reference. Real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard import Guard
from agentguard.database import Database
from agentguard.errors import PolicyDenied, PolicyError
from agentguard.models import Effect, ToolCall
from agentguard.policy import StoredPolicy, pull_policy, push_policy
from agentguard.settings import load_settings
from agentguard.testing import MemoryAudit

REPO = Path(__file__).resolve().parents[2]
CALL = ToolCall(agent="coder", tool="shell.run", arguments={"command": "ls"})


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def test_push_then_follow_a_new_version(
    pg_url: str, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    db = Database(pg_url, max_size=1)
    settings = load_settings(
        env={}, overrides={"home": str(tmp_path / "home"), "database_url": pg_url, "workspace": str(tmp_path)}
    )
    try:
        assert (
            push_policy(db, make_policy("p, *, shell.run, *, ask", "v1"), workspace=tmp_path, pushed_by="ann")
            == 1
        )
        stored = StoredPolicy(settings)
        try:
            decision = stored.decide(CALL)
            assert decision.effect is Effect.ASK
            assert decision.rule is not None
            assert decision.rule.file == "v1-policy.csv"  # explain names the version
            push_policy(
                db, make_policy("p, *, shell.run, *, deny", "v2"), workspace=tmp_path, pushed_by="bob"
            )

            def follows() -> bool:
                stored.refresh_due()  # what the guard does before every call
                return stored.version == 2

            wait_until(follows, what="the pushed version to be loaded")
            decision = stored.decide(CALL)
            assert decision.effect is Effect.DENY
            assert decision.rule is not None
            assert decision.rule.file == "v2-policy.csv"
        finally:
            stored.close()
    finally:
        db.close()


def test_a_policy_that_does_not_load_is_never_stored(
    pg_url: str, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    db = Database(pg_url, max_size=1)
    try:
        with pytest.raises(PolicyError, match=r"policy\.csv"):
            push_policy(
                db, make_policy("p, *, shell.run, nonsense(, ask"), workspace=tmp_path, pushed_by="ann"
            )
        with pytest.raises(PolicyError, match="no policy version"):
            pull_policy(db, tmp_path / "out")
    finally:
        db.close()


def test_pull_writes_the_files_back(pg_url: str, make_policy: Callable[..., Path], tmp_path: Path) -> None:
    source = make_policy("p, *, fs.read, *, allow")
    db = Database(pg_url, max_size=1)
    try:
        push_policy(db, source, workspace=tmp_path, pushed_by="ann")
        push_policy(db, make_policy("p, *, fs.read, *, deny", "later"), workspace=tmp_path, pushed_by="ann")
        assert pull_policy(db, tmp_path / "out", version=1) == 1
    finally:
        db.close()
    for name in ("model.conf", "policy.csv"):
        assert (tmp_path / "out" / name).read_text() == (source / name).read_text()


def test_cli_push_pull_and_the_guard_records_the_version(
    pg_url: str, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_policy("p, *, shell.run, *, deny")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "agentguard.cli",
                "--database-url",
                pg_url,
                "--home",
                str(tmp_path / "h"),
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )

    pushed = cli("policy", "push", str(source), "--as", "ann")
    assert pushed.returncode == 0, pushed.stderr
    assert "policy version 1 pushed" in pushed.stdout
    pulled = cli("policy", "pull", str(tmp_path / "pulled"))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "pulled" / "policy.csv").read_text() == (source / "policy.csv").read_text()
    settings = load_settings(
        env={},
        overrides={
            "home": str(tmp_path / "h"),
            "database_url": pg_url,
            "policy.source": "database",
            "workspace": str(tmp_path),
        },
    )
    audit = MemoryAudit()
    with Guard(settings=settings, audit=audit) as guard:
        guard.register("shell.run", lambda command: command)
        with pytest.raises(PolicyDenied):
            guard.call("shell.run", {"command": "ls"})
    decided = [r for r in audit.records if r["event"] == "policy.decided"]
    assert decided[0]["effect"] == "deny"
    assert decided[0]["rule"] == "v1-policy.csv:1"  # the version that decided the call

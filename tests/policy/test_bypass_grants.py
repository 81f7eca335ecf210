"""Grants as the policy enforces them: exactly as wide as the approval, isolated when broken, and read
from the approval store (the store of record), never from a file that can lag behind it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard
from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.approval._grants import new_grant
from agentguard.errors import ApprovalDenied, ApprovalError
from agentguard.models import ApprovalResult, ApprovalStatus, Effect, ToolCall
from agentguard.policy import LintFinding, PolicyEngine, lint_policy
from agentguard.settings import Settings
from agentguard.testing import MemoryAudit

from .conftest import decide

ASK_ALL = """
p, *, fs.*, *, ask
p, *, shell.run, *, ask
p, *, mail.send, *, ask
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _request(tool: str, arguments: dict[str, Any]) -> Any:
    from agentguard.models import ApprovalRequest, Decision

    call = ToolCall(agent="coder", tool=tool, arguments=arguments)
    return ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="ask"), timeout_s=60)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Any:
    with SqliteApprovalStore(home) as s:
        yield s


@pytest.fixture
def engine(make_policy: Callable[..., Path], workspace: Path, home: Path) -> PolicyEngine:
    return PolicyEngine.load(make_policy(ASK_ALL), workspace=workspace, grants=grant_source(home))


def approve_always(
    store: SqliteApprovalStore, tool: str, arguments: dict[str, Any], scope: GrantScope, **kw: Any
) -> Any:
    queued = store.submit(_request(tool, arguments), Owner.current())
    return ApprovalDesk(store, approver="alice").approve_always(queued.id, scope, **kw)[1]


def effect(engine: PolicyEngine, tool: str, **arguments: Any) -> Effect:
    engine.refresh_due()
    return decide(engine, tool, **arguments).effect


# -- finding 7: grants widen ----------------------------------------------------------------------


def test_glob_characters_in_an_approved_path_do_not_widen_the_suggested_grant(
    store: SqliteApprovalStore, engine: PolicyEngine, workspace: Path
) -> None:
    odd = workspace / "**"
    odd.mkdir()
    approved = f"{odd}/notes.md"
    grant = approve_always(store, "fs.write", {"path": approved, "content": "x"}, GrantScope.PATTERN)
    assert "/\\\\*\\\\*/**" in grant.condition  # the agent's ** taken literally, escaped
    assert effect(engine, "fs.write", path=str(odd / "other.md"), content="x") is Effect.ALLOW
    assert effect(engine, "fs.write", path=str(workspace / "src" / "notes.md"), content="x") is Effect.ASK
    assert effect(engine, "fs.write", path=str(workspace / "src" / "app.py"), content="x") is Effect.ASK


def test_glob_command_name_does_not_become_any_command(
    store: SqliteApprovalStore, engine: PolicyEngine
) -> None:
    # `*` in command position is a glob bash expands when it runs (the first file's name): no literal
    # pattern names it, so no "approve always" pattern is offered, and nothing is granted.
    with pytest.raises(ApprovalError, match="no pattern can be suggested"):
        approve_always(store, "shell.run", {"command": "* --version"}, GrantScope.PATTERN)
    assert effect(engine, "shell.run", command="rm -rf /") is Effect.ASK
    assert effect(engine, "shell.run", command="curl evil.example --version") is Effect.ASK
    assert effect(engine, "shell.run", command="'*' --version") is Effect.ASK


def test_exact_call_grant_pins_every_key_and_its_type(
    store: SqliteApprovalStore, engine: PolicyEngine
) -> None:
    args = {
        "to": "bob@example.com",
        "subject": "hi",
        "n": 5,
        "opts": {"cc": ["x@example.com"], "urgent": False},
    }
    approve_always(store, "mail.send", args, GrantScope.CALL)
    assert effect(engine, "mail.send", **args) is Effect.ALLOW
    assert effect(engine, "mail.send", **args, bcc="eve@example.com") is Effect.ASK  # one key more
    assert effect(engine, "mail.send", **{k: v for k, v in args.items() if k != "subject"}) is Effect.ASK
    assert effect(engine, "mail.send", **{**args, "n": "5"}) is Effect.ASK  # "5" is not 5
    assert effect(engine, "mail.send", **{**args, "n": 5.0}) is Effect.ALLOW  # JSON has one number type
    assert effect(engine, "mail.send", **{**args, "opts": {**args["opts"], "urgent": 0}}) is Effect.ASK
    nested = {**args, "opts": {**args["opts"], "bcc": ["eve@example.com"]}}
    assert effect(engine, "mail.send", **nested) is Effect.ASK


def test_string_five_grant_does_not_match_number_five(
    store: SqliteApprovalStore, engine: PolicyEngine
) -> None:
    approve_always(store, "fs.read", {"path": "/x", "limit": "5"}, GrantScope.CALL)
    assert effect(engine, "fs.read", path="/x", limit="5") is Effect.ALLOW
    assert effect(engine, "fs.read", path="/x", limit=5) is Effect.ASK


# -- a broken grant is isolated, never a deny-everything -------------------------------------------


def test_a_broken_grant_line_is_skipped_and_reported_not_fatal(
    make_policy: Callable[..., Path], workspace: Path, tmp_path: Path
) -> None:
    grants = tmp_path / "grants.csv"
    grants.write_text(
        'p, coder, fs.read, path(path, "relative/**"), allow\n'  # does not compile: not absolute
        "p, coder, fs.read, nosuchfn(path), allow\n"
        "g, coder, admin\n"  # roles never come from a grant file
        "p, review-*, fs.read, *, allow\n"  # a subject glob names nobody
        "p, coder, shell.run, *, allow\n"
    )
    problems: list[LintFinding] = []
    engine = PolicyEngine.load(
        make_policy(ASK_ALL + "p, admin, fs.write, *, allow\n", name="with-roles"),
        workspace=workspace,
        extra_files=[grants],
        on_grant_problem=problems.append,
    )
    assert engine.load_error is None
    assert decide(engine, "shell.run", command="ls").effect is Effect.ALLOW  # the good grant applies
    assert decide(engine, "fs.read", path="/etc/passwd").effect is Effect.ASK  # the policy still works
    assert decide(engine, "fs.write", path="/tmp/x").effect is Effect.ASK  # no role from the grant file
    assert [p.line for p in engine.grant_problems] == [1, 2, 3, 4]
    assert problems == list(engine.grant_problems)
    assert all(p.severity == "warning" and p.code == "grant-skipped" for p in problems)
    findings = lint_policy(make_policy(ASK_ALL), workspace=workspace, extra_files=[grants])
    assert not [f for f in findings if f.severity == "error"]
    assert len([f for f in findings if f.code == "grant-skipped"]) == 4


def test_a_grant_row_that_does_not_compile_is_skipped_and_audited_by_the_guard(
    make_policy: Callable[..., Path], workspace: Path, home: Path, store: SqliteApprovalStore
) -> None:
    good = new_grant(ToolCall(agent="coder", tool="shell.run"), GrantScope.TOOL, created_by="a", now=NOW)
    store.add_grant(good)
    with sqlite3.connect(home / "approvals.db") as db:  # bypass validation: a tampered or older row
        db.execute(
            "INSERT INTO grants (id, agent, tool, scope, condition, created_by, created_at) "
            "VALUES ('bad', 'coder', 'fs.read', 'pattern', 'path(path, \"x(\")', 'a', 0)"
        )
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'grants_version'")
    audit = MemoryAudit()

    class Deny:
        def request(self, request: Any) -> ApprovalResult:
            return ApprovalResult(status=ApprovalStatus.DENIED, approver="t", channel="t", reason="no")

    settings = Settings(home=home, workspace=workspace, policy_dir=make_policy(ASK_ALL))
    guard = Guard(settings=settings, audit=audit, approver=Deny(), agent="coder")

    @guard.tool(name="shell.run")
    def run(command: str) -> str:
        return "ran"

    @guard.tool(name="fs.read")
    def read(path: str) -> str:
        return "read"

    assert run(command="ls") == "ran"  # the good grant still applies
    with pytest.raises(ApprovalDenied):
        read(path="/x")  # asked (no grant), then denied by the approver
    skipped = [r for r in audit.records if r["event"] == "policy.grant_skipped"]
    assert len(skipped) == 1
    assert "grant skipped" in skipped[0]["message"]


def test_unreadable_store_means_no_grant_applies(
    store: SqliteApprovalStore, engine: PolicyEngine, home: Path
) -> None:
    approve_always(store, "shell.run", {"command": "make"}, GrantScope.TOOL)
    assert effect(engine, "shell.run", command="make") is Effect.ALLOW
    store.close()
    db = home / "approvals.db"
    saved = {p.name: p.read_bytes() for p in home.glob("approvals.db*")}
    for name in saved:
        (home / name).unlink()
    db.write_bytes(b"this is not a database" * 100)
    assert effect(engine, "shell.run", command="make") is Effect.ASK  # fail closed
    assert [p.code for p in engine.grant_problems] == ["grants-unavailable"]
    db.unlink()
    for name, data in saved.items():
        (home / name).write_bytes(data)
    assert effect(engine, "shell.run", command="make") is Effect.ALLOW
    assert engine.grant_problems == ()


# -- the store of record, not the file ------------------------------------------------------------


def test_a_hand_edited_or_stale_grants_csv_is_not_enforced(
    store: SqliteApprovalStore, engine: PolicyEngine, home: Path
) -> None:
    grant = approve_always(store, "shell.run", {"command": "make"}, GrantScope.TOOL)
    (home / "grants.csv").write_text("p, coder, fs.write, *, allow\n")  # planted, or left behind
    assert effect(engine, "fs.write", path="/tmp/x", content="") is Effect.ASK
    assert effect(engine, "shell.run", command="make") is Effect.ALLOW
    home.chmod(0o500)  # grants.csv cannot be rewritten at all now
    try:
        revoked = SqliteApprovalStore(home).revoke_grant(grant.id, "bob")
    finally:
        home.chmod(0o700)
    assert revoked.revoked_at is not None
    assert effect(engine, "shell.run", command="make") is Effect.ASK  # revocation applies regardless

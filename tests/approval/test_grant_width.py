"""A grant is exactly as wide as the approval: suggestions take the agent's text literally, grants are
validated with the real condition compiler before they are written, and a broken one is flagged."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from agentguard.approval import ApprovalDesk, Grant, GrantScope, Owner, SqliteApprovalStore, suggest_pattern
from agentguard.approval._grants import new_grant
from agentguard.cli import main
from agentguard.errors import ApprovalError
from agentguard.models import ToolCall
from agentguard.policy._conditions import CompileEnv, EvalContext, compile_condition

from .conftest import make_request

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ENV = CompileEnv(workspace="/ws", home="/home/u")


def call(**arguments: Any) -> ToolCall:
    return ToolCall(agent="coder", tool="t.x", arguments=arguments)


def matches(condition: str, **arguments: Any) -> bool:
    return compile_condition(condition, ENV)(EvalContext(arguments))


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        ({"path": "/ws/**/notes.md"}, "/ws/\\*\\*/**"),
        ({"path": "/ws/src/[ab]/x.py"}, "/ws/src/\\[ab\\]/**"),
        ({"path": "/ws/{a,b}/x"}, "/ws/\\{a,b\\}/**"),
        ({"path": "notes.md"}, "{workspace}/**"),
        ({"path": "src/{home}/x"}, "{workspace}/src/\\{home\\}/**"),
        ({"path": "~/notes/x.md"}, "{home}/notes/**"),
        # a glob in command position is expanded by the shell when it runs: no literal pattern names it
        ({"command": "* --version"}, None),
        ({"command": "git? status"}, None),
        ({"command": "git log -n 5"}, "git log *"),
        ({"url": "https://docs.python.org/3/x?y=1"}, "https://docs.python.org"),
        ({"url": "http://127.0.0.1:8080/a"}, "http://127.0.0.1:8080"),
    ],
)
def test_suggestions_take_the_agents_text_literally(arguments: dict[str, Any], pattern: str | None) -> None:
    assert suggest_pattern(call(**arguments)) == pattern


@pytest.mark.parametrize(
    "arguments",
    [
        {"url": "https://*.example.com/"},  # a wildcard host would cover every subdomain
        {"url": "https://user@example.com/"},
        {"url": "not a url"},
        {"command": "echo 'unterminated"},
        {"path": "~other/x"},
    ],
)
def test_no_suggestion_rather_than_a_wide_or_broken_one(arguments: dict[str, Any]) -> None:
    assert suggest_pattern(call(**arguments)) is None


def test_suggested_command_pattern_matches_only_that_verb() -> None:
    grant = new_grant(call(command="git log -n 5"), GrantScope.PATTERN, created_by="a", now=NOW)
    assert not matches(grant.condition, command="rm -rf /")
    assert not matches(grant.condition, command="git push")
    assert not matches(grant.condition, command="git log -n 5; rm -rf /")
    assert matches(grant.condition, command="git log --oneline")


def test_exact_call_condition_pins_keys_and_types() -> None:
    grant = new_grant(
        call(to="a@b", n=5, nested={"l": [1, "2", None]}), GrantScope.CALL, created_by="a", now=NOW
    )
    base = {"to": "a@b", "n": 5, "nested": {"l": [1, "2", None]}}
    assert matches(grant.condition, **base)
    assert not matches(grant.condition, **base, bcc="x")
    assert not matches(grant.condition, **{**base, "n": "5"})
    assert not matches(grant.condition, **{**base, "n": True})
    assert not matches(grant.condition, **{**base, "nested": {"l": [1, 2, None]}})
    assert not matches(grant.condition, to="a@b", n=5)


def test_a_pattern_that_does_not_compile_is_refused_before_anything_is_written(
    store: SqliteApprovalStore, home: Path
) -> None:
    q = store.submit(make_request("fs.write", {"path": "/ws/a.py", "content": "x"}), Owner.current())
    desk = ApprovalDesk(store, approver="alice")
    for bad in ("src/**", "{nowhere}/x", "~/x"):
        with pytest.raises(ApprovalError, match="cannot be enforced"):
            desk.approve_always(q.id, GrantScope.PATTERN, pattern=bad)
    assert store.get(q.id).pending  # nothing half-applied
    assert store.grants(include_inactive=True) == []
    broken = Grant(
        id="b" * 32,
        agent="coder",
        tool="fs.read",
        scope=GrantScope.PATTERN,
        condition='path(path, "relative")',
        created_by="a",
        created_at=NOW,
    )
    with pytest.raises(ApprovalError, match="cannot be enforced"):
        store.add_grant(broken)
    assert store.grants(include_inactive=True) == []


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def test_grants_list_and_policy_check_warn_about_a_grant_that_does_not_compile(
    store: SqliteApprovalStore, home: Path
) -> None:
    store.add_grant(new_grant(call(command="make"), GrantScope.TOOL, created_by="a", now=NOW))
    with sqlite3.connect(home / "approvals.db") as db:  # a row from a tampered or older database
        db.execute(
            "INSERT INTO grants (id, agent, tool, scope, condition, created_by, created_at) "
            "VALUES ('cafe', 'coder', 'fs.read', 'pattern', 'nosuch(path)', 'a', 0)"
        )
    listed = run(home, "grants", "list")
    assert listed.exit_code == 0
    assert "warning: grant cafe is skipped by the policy" in listed.stderr
    data = orjson.loads(run(home, "grants", "list", "--json").stdout)["grants"]
    assert [g["problem"] is None for g in data] == [True, False]
    check = run(home, "policy", "check", "--json")
    assert check.exit_code == 0, check.output  # a warning, not an error: the policy still loads
    report = orjson.loads(check.stdout)
    assert report["errors"] == 0
    assert [f["code"] for f in report["findings"] if f["code"] == "grant-skipped"] == ["grant-skipped"]

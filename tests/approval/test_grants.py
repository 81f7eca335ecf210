"""Grants: rendered as policy rules, enforced by the policy engine, revocable at once, injection-proof."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from casbin.persist.adapter import _extract_tokens
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.approval import (
    ApprovalDesk,
    Grant,
    GrantScope,
    Owner,
    SqliteApprovalStore,
    parse_duration,
    render_rule,
    suggest_pattern,
)
from agentguard.approval._grants import new_grant, render_grants, split_rule_line
from agentguard.errors import ApprovalError
from agentguard.models import Effect, ToolCall
from agentguard.testing import MemoryAudit

from .conftest import make_request

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def call(tool: str, agent: str = "coder", **arguments: Any) -> ToolCall:
    return ToolCall(agent=agent, tool=tool, arguments=arguments)


def test_rules_for_each_scope() -> None:
    c = call("fs.write", path="/work/project/src/app.py", content="x = 1")
    assert (
        render_rule(new_grant(c, GrantScope.TOOL, created_by="alice", now=NOW))
        == "p, coder, fs.write, *, allow"
    )
    assert (
        render_rule(new_grant(c, GrantScope.PATTERN, created_by="alice", now=NOW))
        == 'p, coder, fs.write, path(path, "/work/project/src/**"), allow'
    )
    assert (
        render_rule(new_grant(c, GrantScope.CALL, created_by="alice", now=NOW))
        == "p, coder, fs.write, "
        + 'eq(*, "{\\"content\\":\\"x = 1\\",\\"path\\":\\"/work/project/src/app.py\\"}")'
        + ' && path(path, "/work/project/src/app.py"), allow'  # the file it names, pinned
    )
    shell = call("shell.run", command="git log -n 5")
    assert render_rule(new_grant(shell, GrantScope.PATTERN, created_by="a", now=NOW)).endswith(
        'cmd(command, "git log *"), allow'
    )
    web = call("http.get", url="https://docs.python.org/3/library/re.html")
    assert suggest_pattern(web) == "https://docs.python.org"
    custom = new_grant(web, GrantScope.PATTERN, created_by="a", pattern="https://*.python.org/*", now=NOW)
    assert custom.condition == 'url(url, "https://*.python.org/*")'


def test_expiry_becomes_a_before_condition() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    g = new_grant(
        call("fs.read", path="/a/b"),
        GrantScope.TOOL,
        created_by="alice",
        now=now,
        expires_at=now + timedelta(hours=8),
    )
    assert render_rule(g) == 'p, coder, fs.read, before("2026-11-01T20:00:00Z"), allow'
    g2 = new_grant(
        call("fs.read", path="/a/b"),
        GrantScope.PATTERN,
        created_by="a",
        now=now,
        expires_at=now + timedelta(days=1),
    )
    assert render_rule(g2).endswith('path(path, "/a/**") && before("2026-11-02T12:00:00Z"), allow')
    with pytest.raises(ApprovalError, match="expire before it starts"):
        new_grant(call("fs.read"), GrantScope.TOOL, created_by="a", now=now, expires_at=now)


def test_grants_file_has_who_and_when_and_skips_inactive() -> None:
    now = NOW
    active = new_grant(call("fs.read"), GrantScope.TOOL, created_by="alice", request_id="r1", now=NOW)
    revoked = active.model_copy(update={"id": "f" * 32, "revoked_at": now, "revoked_by": "bob"})
    expired = active.model_copy(update={"id": "e" * 32, "expires_at": now - timedelta(seconds=1)})
    text = render_grants([active, revoked, expired], now, version=3)
    assert text.startswith("# agentguard grants, version 3.")
    lines = [ln for ln in text.splitlines()[2:]]
    assert len(lines) == 2
    assert lines[0].startswith(f"# grant {active.id} scope tool by alice at ")
    assert "request r1" in lines[0]
    assert lines[1] == "p, coder, fs.read, *, allow"


def test_parse_duration() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("8h") == timedelta(hours=8)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "8", "h", "-1h", "0m", "1y", "8 hours"):
        with pytest.raises(ApprovalError):
            parse_duration(bad)


# -- attacks: nothing an agent or approver types may add a rule ------------------------------------


@pytest.mark.parametrize(
    "agent",
    ["evil, *, *, *, allow\np", "a,b", "a b", "bad\nname", "(x", "#x", "", "ünïcode", "a\x00b"],
)
def test_agent_names_that_could_inject_are_refused(agent: str) -> None:
    with pytest.raises(ApprovalError, match="cannot be written into a policy rule"):
        new_grant(call("fs.read", agent=agent), GrantScope.TOOL, created_by="alice", now=NOW)


@pytest.mark.parametrize(
    "pattern",
    ['/x"), allow\np, *, *, *, allow', "/x)", "/x(", "/x]", "a), *, (b", "/x\ny", "/x\ry", "/x#", "  "],
)
def test_patterns_that_could_break_the_line_are_refused(pattern: str) -> None:
    with pytest.raises(ApprovalError, match="pattern"):
        new_grant(
            call("fs.read", path="/work/a"), GrantScope.PATTERN, created_by="a", pattern=pattern, now=NOW
        )


def test_approver_name_cannot_break_the_comment_line() -> None:
    g = new_grant(call("fs.read"), GrantScope.TOOL, created_by="mallory\np, *, *, *, allow", now=NOW)
    text = render_grants([g], NOW)
    assert [ln for ln in text.splitlines() if ln.startswith("p,")] == ["p, coder, fs.read, *, allow"]


_NASTY = st.text(
    alphabet=st.sampled_from(list("()[],\"\\#\n\r\t *?{}$`;|&<>'éΩ𝕏\u2028\x00a/.-")) | st.characters(),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    value=_NASTY
    | st.integers()
    | st.booleans()
    | st.lists(_NASTY, max_size=3)
    | st.dictionaries(_NASTY, _NASTY, max_size=2)
)
def test_exact_call_rules_tokenize_as_one_rule(value: Any) -> None:
    """Whatever the agent sends, the exact-call rule is one line and stock casbin reads 5 fields from it."""
    try:
        g = new_grant(call("shell.run", command=value), GrantScope.CALL, created_by="a", now=NOW)
    except ApprovalError:
        return  # refusing is fine; writing something else is not
    line = render_rule(g)
    assert "\n" not in line
    assert "\r" not in line
    assert "\u2028" not in line
    assert split_rule_line(line) == _extract_tokens(line)
    tokens = _extract_tokens(line)
    assert tokens is not None
    assert len(tokens) == 5
    assert tokens[:3] == ["p", "coder", "shell.run"]
    assert tokens[4] == "allow"
    assert tokens[3] == g.condition


# -- with the real policy engine ------------------------------------------------------------------

ASK_ALL = """
p, *, fs.*, *, ask
p, *, shell.run, *, ask
p, *, fs.write, path(path, "/etc/**"), deny
"""


@pytest.fixture
def engine_for(make_policy: Callable[[str], Path], tmp_path: Path) -> Callable[[Path], Any]:
    from agentguard.approval import grant_source
    from agentguard.policy import PolicyEngine

    directory = make_policy(ASK_ALL)

    def build(home: Path) -> Any:
        return PolicyEngine.load(directory, workspace=tmp_path, grants=grant_source(home))

    return build


def _decide(engine: Any, tool: str, agent: str = "coder", **arguments: Any) -> Effect:
    engine.refresh()
    effect: Effect = engine.decide(ToolCall(agent=agent, tool=tool, arguments=arguments)).effect
    return effect


def test_grant_applies_and_revocation_stops_it_at_once(
    store: SqliteApprovalStore, home: Path, engine_for: Callable[[Path], Any]
) -> None:
    engine = engine_for(home)
    assert _decide(engine, "fs.write", path="/work/src/a.py", content="1") is Effect.ASK
    q = store.submit(make_request("fs.write", {"path": "/work/src/a.py", "content": "1"}), Owner.current())
    audit = MemoryAudit()
    store.audit = audit
    _, grant = ApprovalDesk(store, approver="alice").approve_always(q.id, GrantScope.PATTERN)
    assert _decide(engine, "fs.write", path="/work/src/b.py", content="2") is Effect.ALLOW
    assert _decide(engine, "fs.write", path="/work/docs/c.md", content="2") is Effect.ASK
    assert _decide(engine, "fs.write", path="/work/src/b.py", content="2", agent="other") is Effect.ASK
    assert _decide(engine, "fs.write", path="/work/src/../../etc/passwd", content="2") is Effect.DENY
    ApprovalDesk(store, approver="bob").revoke(grant.id[:6])
    assert _decide(engine, "fs.write", path="/work/src/b.py", content="2") is Effect.ASK
    assert audit.events == ["grant.created", "grant.revoked"]
    assert audit.records[0]["created_by"] == "alice"
    assert audit.records[1]["revoked_by"] == "bob"
    assert [g.state(store.now()) for g in store.grants(include_inactive=True)] == ["revoked"]
    assert not list(home.glob(".grants-*.tmp"))


def test_exact_call_and_tool_scopes_with_the_engine(
    store: SqliteApprovalStore, home: Path, engine_for: Callable[[Path], Any]
) -> None:
    engine = engine_for(home)
    command = 'python -c "print(1, [2])" # done'
    q = store.submit(make_request("shell.run", {"command": command}), Owner.current())
    ApprovalDesk(store, approver="alice").approve_always(q.id, GrantScope.CALL)
    assert _decide(engine, "shell.run", command=command) is Effect.ALLOW
    assert _decide(engine, "shell.run", command=command + " ") is Effect.ASK
    assert _decide(engine, "shell.run", command="python -c print") is Effect.ASK
    q2 = store.submit(make_request("fs.read", {"path": "/x"}), Owner.current())
    ApprovalDesk(store, approver="alice").approve_always(
        q2.id, GrantScope.TOOL, expires_in=timedelta(hours=1)
    )
    assert _decide(engine, "fs.read", path="/anything") is Effect.ALLOW
    assert _decide(engine, "fs.list", path="/anything") is Effect.ASK


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_NASTY)
def test_exact_call_grant_matches_only_that_value(
    value: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from agentguard.policy import PolicyEngine

    home = tmp_path_factory.mktemp("home")
    try:
        g = new_grant(call("shell.run", command=value), GrantScope.CALL, created_by="a", now=NOW)
    except ApprovalError:
        return
    (home / "grants.csv").write_text(render_grants([g], NOW), encoding="utf-8")
    directory = home / "policy"
    directory.mkdir()
    (directory / "model.conf").write_bytes(
        (Path(__file__).parents[2] / "permissions" / "model.conf").read_bytes()
    )
    (directory / "policy.csv").write_text("p, *, shell.run, *, ask\n", encoding="utf-8")
    engine = PolicyEngine.load(directory, workspace=home, extra_files=[home / "grants.csv"])
    assert _decide(engine, "shell.run", command=value) is Effect.ALLOW
    assert _decide(engine, "shell.run", command=value + "x") is Effect.ASK


def test_grant_can_be_stored_directly_and_listed(store: SqliteApprovalStore, home: Path) -> None:
    g = new_grant(call("fs.read"), GrantScope.TOOL, created_by="alice", now=NOW)
    store.add_grant(g)
    assert [x.id for x in store.grants()] == [g.id]
    assert store.lookup_grant(g.id[:5]).id == g.id
    assert "p, coder, fs.read, *, allow" in (home / "grants.csv").read_text()
    first = store.revoke_grant(g.id, "bob")
    again = store.revoke_grant(g.id, "carol")  # a retry completes the job; it does not re-revoke
    assert again.revoked_by == "bob"
    assert again.revoked_at == first.revoked_at
    assert "p, coder" not in (home / "grants.csv").read_text()
    assert isinstance(store.grants(include_inactive=True)[0], Grant)

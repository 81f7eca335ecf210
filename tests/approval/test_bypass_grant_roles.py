"""An "approve always" binds the agent it was given for, never the agents that inherit its name as a role.

A grant is ``p, <agent>, <tool>, <cond>, allow``. Policy rules match ``p.sub == "*" || g(r.sub, p.sub)``,
so when the agent's name is also a role others inherit (``g, intern, coder``: the intern gets the coder's
rules), a grant matched like a rule would apply the approver's "the whole tool, for this agent" to every
member too, unasked (found by the red team). Grants (the approval store's, and ``extra_files``) match
their subject exactly: the requesting agent's own (canonical) name, or ``*`` written by hand in a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalRequest, Decision, Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """
p, *, fs.write, *, ask
p, coder, shell.run, *, ask
g, intern, coder
g, trainee, intern
"""


def _grant(home: Path, agent: str, tool: str, scope: GrantScope = GrantScope.TOOL, **arguments: Any) -> None:
    call = ToolCall(agent=agent, tool=tool, arguments=arguments or {"content": "x"})
    request = ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="ask"), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        ApprovalDesk(store, approver="alice").approve_always(queued.id, scope)


def _decide(engine: PolicyEngine, agent: str, tool: str = "fs.write", **arguments: Any) -> Effect:
    engine.refresh_due()
    return engine.decide(ToolCall(agent=agent, tool=tool, arguments=arguments or {"content": "x"})).effect


@pytest.fixture
def engine(make_policy: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(make_policy(RULES), workspace=tmp_path, grants=grant_source(tmp_path / "home"))


def test_a_grant_for_one_agent_does_not_reach_agents_that_inherit_its_name(
    engine: PolicyEngine, tmp_path: Path
) -> None:
    _grant(tmp_path / "home", "coder", "fs.write")
    assert _decide(engine, "coder") is Effect.ALLOW  # what alice granted
    assert _decide(engine, "intern") is Effect.ASK  # a member of the role "coder": not granted
    assert _decide(engine, "trainee") is Effect.ASK  # a member of a member: not granted either


def test_a_grant_for_a_member_does_not_reach_its_role(engine: PolicyEngine, tmp_path: Path) -> None:
    _grant(tmp_path / "home", "intern", "fs.write")
    assert _decide(engine, "intern") is Effect.ALLOW
    assert _decide(engine, "coder") is Effect.ASK  # the role the intern inherits from
    assert _decide(engine, "trainee") is Effect.ASK  # inherits the intern's name as a role


def test_a_grant_on_a_role_only_rule_binds_the_member_it_was_given_for(
    engine: PolicyEngine, tmp_path: Path
) -> None:
    # shell.run asks only through the role "coder": the intern's approval binds the intern alone
    _grant(tmp_path / "home", "intern", "shell.run", command="make test")
    assert _decide(engine, "intern", "shell.run", command="make test") is Effect.ALLOW
    assert _decide(engine, "coder", "shell.run", command="make test") is Effect.ASK
    assert _decide(engine, "trainee", "shell.run", command="make test") is Effect.ASK


def test_the_agent_name_matches_as_everywhere_in_the_policy_case_insensitively(
    engine: PolicyEngine, tmp_path: Path
) -> None:
    _grant(tmp_path / "home", "Coder", "fs.write")  # names are case-insensitive ASCII everywhere
    assert _decide(engine, "coder") is Effect.ALLOW
    assert _decide(engine, "CODER") is Effect.ALLOW
    assert _decide(engine, "Intern") is Effect.ASK


def test_may_allow_does_not_count_another_agents_grant(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    # default deny and no rule for the tool: only the grant can allow it
    engine = PolicyEngine.load(
        make_policy("p, *, fs.read, *, allow\ng, intern, coder\n"),
        workspace=tmp_path,
        grants=grant_source(tmp_path / "home"),
    )
    _grant(tmp_path / "home", "coder", "mail.send")
    engine.refresh_due()
    assert engine.may_allow("coder", "mail.send")
    assert engine.may_allow("CODER", "mail.send")  # read as decide() reads the name
    assert not engine.may_allow("intern", "mail.send")


def test_grant_files_bind_their_subject_exactly_and_star_stays_every_agent(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    grants = tmp_path / "grants.csv"
    grants.write_text('p, coder, fs.write, *, allow\np, *, shell.run, eq(command, "ls"), allow\n')
    engine = PolicyEngine.load(make_policy(RULES), workspace=tmp_path, extra_files=[grants])
    assert _decide(engine, "coder") is Effect.ALLOW
    assert _decide(engine, "intern") is Effect.ASK
    # a hand-written "*" is the operator's "every agent", with or without roles
    for agent in ("coder", "intern", "trainee"):
        assert _decide(engine, agent, "shell.run", command="ls") is Effect.ALLOW
        assert _decide(engine, agent, "shell.run", command="rm x") is Effect.ASK


def test_the_store_never_writes_a_wildcard_grant(tmp_path: Path) -> None:
    with pytest.raises((ApprovalError, ValueError)):
        _grant(tmp_path / "home", "*", "fs.write")


def test_a_grant_still_never_overrides_a_deny_of_the_role(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    engine = PolicyEngine.load(
        make_policy("p, *, fs.write, *, ask\np, staff, fs.write, *, deny\ng, coder, staff\n"),
        workspace=tmp_path,
        grants=grant_source(tmp_path / "home"),
    )
    _grant(tmp_path / "home", "coder", "fs.write")
    assert _decide(engine, "coder") is Effect.DENY

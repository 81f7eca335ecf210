"""A grant settles an ask; it does not choose where the code runs.

Grant lines carry no ``sandbox()`` annotation. When an "approve always" grant became the deciding
rule, the decision's sandbox profile was taken from the grant alone, so every later call ran in the
default profile instead of the one the ``ask`` rule named (looser whenever the default is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentguard.approval import GrantScope, SqliteApprovalStore, grant_source
from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import decide
from .test_bypass_grants import approve_always

RULES = """
p, *, shell.run, sandbox("offline"), ask
p, *, python.exec, eq(mode, "net") && sandbox("networked"), allow
p, *, python.exec, sandbox("offline"), ask
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteApprovalStore]:
    with SqliteApprovalStore(tmp_path / "home") as s:
        yield s


@pytest.mark.parametrize("scope", [GrantScope.TOOL, GrantScope.PATTERN, GrantScope.CALL])
def test_a_grant_runs_in_the_profile_the_ask_rule_named(
    make_policy: Callable[..., Path],
    workspace: Path,
    tmp_path: Path,
    store: SqliteApprovalStore,
    scope: GrantScope,
) -> None:
    engine = PolicyEngine.load(
        make_policy(RULES), workspace=workspace, grants=grant_source(tmp_path / "home")
    )
    assert decide(engine, "shell.run", command="ls -l").sandbox_profile == "offline"
    approve_always(store, "shell.run", {"command": "ls -l"}, scope)
    engine.refresh_due()
    decision = decide(engine, "shell.run", command="ls -l")
    assert decision.effect is Effect.ALLOW
    assert decision.sandbox_profile == "offline"


def test_a_grant_does_not_borrow_a_profile_from_a_rule_it_did_not_settle(
    make_policy: Callable[..., Path], workspace: Path, tmp_path: Path, store: SqliteApprovalStore
) -> None:
    # mode=net matches the plain allow (networked) and the ask (offline); the grant settles the ask.
    engine = PolicyEngine.load(
        make_policy(RULES), workspace=workspace, grants=grant_source(tmp_path / "home")
    )
    assert decide(engine, "python.exec", mode="net", code="1").effect is Effect.ASK
    approve_always(store, "python.exec", {"code": "1", "mode": "net"}, GrantScope.TOOL)
    engine.refresh_due()
    decision = decide(engine, "python.exec", mode="net", code="1")
    assert decision.effect is Effect.ALLOW
    assert decision.sandbox_profile == "offline"

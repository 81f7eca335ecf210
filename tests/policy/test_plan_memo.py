"""A plan's memo is made on its second use: a first-sight decision leaves nothing behind for it, and
the memoised answer is the one the rules give."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine


def test_memo_made_on_second_use_and_answers_the_same(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    engine = PolicyEngine.load(
        make_policy("p, *, t, eq(a, 1), deny\np, *, t, *, allow\np, role, u, *, ask\ng, bob, role"),
        workspace=workspace,
    )
    state = engine._state
    assert state is not None
    first = [engine.decide(ToolCall(agent="bob", tool="t", arguments={"a": a})) for a in (1, 2)]
    plan = state.index.plan("bob", "t")
    assert plan.used
    assert plan.memo is not None
    again = [engine.decide(ToolCall(agent="bob", tool="t", arguments={"a": a})) for a in (1, 2)]
    assert [d.effect for d in first] == [d.effect for d in again] == [Effect.DENY, Effect.ALLOW]
    assert first == again
    engine.decide(ToolCall(agent="eve", tool="u", arguments={}))
    lone = state.index.plan("eve", "u")
    assert lone.used
    assert lone.memo is None
    assert lone.rules == ()
    assert engine.decide(ToolCall(agent="bob", tool="u", arguments={})).effect is Effect.ASK

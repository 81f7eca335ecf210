"""A plan's memo is made on its second use: a first-sight decision leaves nothing behind for it, and
the memoised answer is the one the rules give."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agentguard.models import Decision, Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.policy._index import RuleIndex, _packed


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


def test_verdicts_are_the_decisions_pydantic_would_validate(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    """Verdicts are built without validation (the slow part of a first-sight call): each must be
    exactly the ``Decision`` validation makes from the same values, with every field's type."""
    engine = PolicyEngine.load(
        make_policy(
            'p, *, t, eq(a, 1) && sandbox("net") && timeout(30), ask\n'
            "p, *, t, eq(a, 2), deny\np, *, t, eq(a, 2), deny\np, *, t, *, allow\np, *, u, timeout(5), ask\n"
        ),
        workspace=workspace,
        extra_files=[make_policy("p, bob, t, eq(a, 1), allow", name="grants") / "policy.csv"],
    )
    for agent, tool, a in (("bob", "t", 1), ("eve", "t", 1), ("eve", "t", 2), ("eve", "t", 3), ("x", "u", 0)):
        decision = engine.decide(ToolCall(agent=agent, tool=tool, arguments={"a": a}))
        validated = Decision.model_validate(decision.model_dump())
        assert decision == validated
        assert decision.model_dump_json() == validated.model_dump_json()
        assert type(decision.approval_timeout_s) is type(validated.approval_timeout_s)
        assert type(decision.effect) is Effect
    assert engine.decide(ToolCall(agent="bob", tool="t", arguments={"a": 1})).sandbox_profile == "net"


def test_a_first_sight_decision_leaves_no_plan_behind(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    """Every tracked object a first-sight decision leaves behind brings the next garbage-collection
    pass (the slowest part of a decision) closer: a pair leaves none, with rules or without (its
    rules are kept as their orders, an ``int`` or ``bytes``), nor does a ``?``/``[]`` pattern the name
    reaches (parsed when made). Its plan is made when the pair comes again."""
    engine = PolicyEngine.load(
        make_policy(
            "p, *, svc*.read, *, allow\np, bob, svc*.read, eq(a, 1), deny\n"
            + "".join(f"p, *, svc{i}?.re[a-e]d, eq(a, 1), deny\n" for i in range(20))
        ),
        workspace=workspace,
    )
    for tool in ("warm.up", "svc.read", "svc10.read"):  # the verdicts, cached once per policy
        engine.decide(ToolCall(agent="bob", tool=tool, arguments={"a": 2}))
    calls = [
        ToolCall(agent="bob", tool=f"{kind}{i}.read", arguments={"a": 2})
        for kind in ("x", "svc")
        for i in range(200)
    ]
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for call in calls[:200]:  # no rule for these tools
            assert engine.decide(call).effect is Effect.DENY
        none_left = gc.get_count()[0] - before
        before = gc.get_count()[0]
        for call in calls[200:]:  # two or three rules each (svc1x.read: svc1?.re[a-e]d), conditions
            assert engine.decide(call).effect is Effect.ALLOW
        rules_left = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert none_left <= 20  # allocation counts: a few objects of freelists and caches
    assert rules_left <= 20
    state = engine._state
    assert state is not None
    plan = state.index.plan("bob", "svc7.read")  # asked again: now a plan, its memo made next
    assert plan.used
    assert plan.memo is None
    assert [r.ref.line for r in plan.rules] == [1, 2]
    assert engine.decide(calls[207]).effect is Effect.ALLOW
    assert plan.memo is not None
    assert [r.ref.line for r in state.index.plan("bob", "svc12.read").rules] == [1, 2, 4]
    assert [r.ref.line for r in state.index.plan("eve", "svc13.read").rules] == [1, 4]


def test_a_pair_seen_again_gets_the_same_rules_from_their_orders(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    """A seen-once pair keeps its rules as their orders (none, one, several, policy and grant
    rules): the plan made on its second look-up holds the very rules of the first."""
    engine = PolicyEngine.load(
        make_policy("p, *, t, eq(a, 1), deny\np, *, t*, *, ask\np, *, u, *, allow\ng, bob, role"),
        workspace=workspace,
        extra_files=[make_policy("p, bob, t, *, allow\np, bob, v, *, allow", name="grants") / "policy.csv"],
    )
    state = engine._state
    assert state is not None
    for agent, tool, count in (
        ("bob", "t", 3),
        ("eve", "t", 2),
        ("bob", "u", 1),
        ("bob", "v", 1),
        ("bob", "w", 0),
    ):
        first = state.index.plan(agent, tool).rules
        kept = state.index._plans[agent][tool]
        assert not gc.is_tracked(kept)
        again = state.index.plan(agent, tool).rules
        assert len(first) == count
        assert len(again) == count
        assert all(a is b for a, b in zip(first, again, strict=True))


def test_orders_beyond_64_bits_are_kept_as_the_rules(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    engine = PolicyEngine.load(make_policy("p, *, t, *, deny\np, *, t, *, allow"), workspace=workspace)
    rules = tuple(replace(rule, order=(1 << 70) + rule.order) for rule in engine.rules)
    assert _packed(rules) is rules
    assert _packed(rules[:1]) == rules[0].order
    assert _packed(()) == ()


def test_rules_sharing_an_order_are_kept_as_the_rules(
    make_policy: Callable[..., Path], workspace: Path
) -> None:
    """Orders are unique (file position and line); if two rules ever shared one, a pair's orders
    could name the wrong rule, so the index keeps the rules themselves."""
    engine = PolicyEngine.load(make_policy("p, *, t, *, deny\np, *, t, *, allow"), workspace=workspace)
    rules = [replace(rule, order=7) for rule in engine.rules]
    index = RuleIndex(rules, {})
    first = index.plan("bob", "t").rules
    assert index._plans["bob"]["t"] == tuple(rules)
    assert (
        [r.effect for r in index.plan("bob", "t").rules]
        == [r.effect for r in first]
        == [Effect.DENY, Effect.ALLOW]
    )

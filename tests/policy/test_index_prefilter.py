"""What the rule index skips before a tool pattern's matcher runs, and what it must still find.

A glob is filed under its rarest literal fragment; a second fragment of it is tested with ``in``
before the matcher, so a name that holds the key fragment but not the other one costs no match.
An empty grants layer hands every look-up to the policy's index.
"""

from __future__ import annotations

import random

import pytest
from casbin.util import glob_match
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.models import Effect, RuleRef
from agentguard.policy._conditions import CompileEnv, compile_condition
from agentguard.policy._index import RuleIndex
from agentguard.policy._loader import ToolPattern
from agentguard.policy._types import Rule

_ALWAYS = compile_condition("*", CompileEnv(workspace="/", home="/", state=""))
SHAPES = (
    "svc{n}.read",
    "svc{n}.*",
    "*.svc{n}-export",
    "*svc{n}.admin",
    "team*.svc{n}.write",
    "svc{n}?.re[a-e]d",
)


def _rule(order: int, tool: str) -> Rule:
    ref = RuleRef(file="p.csv", line=order + 1, text=f"p, *, {tool}, *, allow")
    return Rule(
        ref=ref, subject="*", tool=tool, cond="*", effect=Effect.ALLOW, order=order, condition=_ALWAYS
    )


def _rules() -> list[Rule]:
    rules = [_rule(len(SHAPES) * n + k, s.format(n=n)) for n in range(100) for k, s in enumerate(SHAPES)]
    rules.append(_rule(len(rules), "*.admin"))
    return rules


def _checked(index: RuleIndex, name: str) -> list[str]:
    checked: list[str] = []
    original = ToolPattern.matches

    def spy(self: ToolPattern, tool: str) -> bool:
        checked.append(self.text)
        return original(self, tool)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ToolPattern, "matches", spy)
        index.for_tool(name)
    return checked


def test_a_name_without_the_second_fragment_is_not_matched() -> None:
    # "svc4" and "svc42" (keys of svc4?.re[a-e]d, svc42?.re[a-e]d) are in the name, ".re" is not
    checked = _checked(RuleIndex(_rules(), {}), "svc42.admin")
    assert sorted(checked) == ["*.admin", "*svc42.admin", "svc42.*"]


def test_a_name_with_both_fragments_is_matched_and_found() -> None:
    rules = _rules()
    index = RuleIndex(rules, {})
    assert "svc4?.re[a-e]d" in _checked(index, "svc42.read")
    want = [r for r in rules if glob_match("svc42.read", r.tool)]
    assert [r.tool for r in want] == ["svc4?.re[a-e]d", "svc42.read", "svc42.*"]
    assert list(RuleIndex(rules, {}).for_tool("svc42.read")) == want


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIECES = ["a", "b", "ab", ".", "-", "*", "?", "[ab]", "[!a]", "x", "xy"]


@SETTINGS
@given(
    tools=st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join), max_size=12),
    name=st.text(alphabet="abxy.-", min_size=1, max_size=9),
)
def test_patterns_of_several_fragments_are_found_as_a_scan_finds_them(tools: list[str], name: str) -> None:
    rules = [_rule(i, tool) for i, tool in enumerate(tools)]
    want = [r for r in rules if glob_match(name, r.tool)]
    assert list(RuleIndex(rules, {}).for_tool(name)) == want


def test_an_empty_grants_layer_answers_with_the_policy_index_and_keeps_no_cache() -> None:
    rules = _rules()
    base = RuleIndex(rules, {})
    layer = RuleIndex([], {}, base=base)
    rng = random.Random(1)
    names = [f"svc{rng.randrange(120)}.{v}" for v in ("read", "admin", "write") for _ in range(20)]
    for name in names + names:
        assert layer.for_tool(name) == base.for_tool(name)
        assert list(layer.for_tool(name)) == [r for r in rules if glob_match(name, r.tool)]
    assert layer._by_tool == {}
    assert layer._seen_tools == set()
    granted = _rule(len(rules), "svc7.read")
    over = RuleIndex([granted], {}, base=base)
    assert over.for_tool("svc7.read") == (*base.for_tool("svc7.read"), granted)

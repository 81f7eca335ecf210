"""``known(arg, "fact")``: conditions over facts from the agent's environment (FactSource)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import casbin
import pytest

from agentguard.errors import PolicyError
from agentguard.models import Effect, ToolCall
from agentguard.policy import FactSource, PolicyEngine, StaticFacts

REPO = Path(__file__).resolve().parents[2]

RULES = """\
p, *, send_money, known(recipient, "payees"), allow
p, *, send_money, !known(recipient, "payees"), ask
p, *, send_email, known(recipients, "contacts"), allow
"""


class LiveFacts:
    """A FactSource whose sets change while the engine is loaded (the environment moves on)."""

    def __init__(self) -> None:
        self.sets: dict[str, set[str]] = {"payees": set(), "contacts": set()}
        self.asked: list[tuple[str, str]] = []

    def contains(self, fact: str, value: str) -> bool:
        self.asked.append((fact, value))
        return value in self.sets.get(fact, set())


def _policy(tmp_path: Path, rules: str) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir()
    shutil.copy(REPO / "permissions" / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text(rules)
    return directory


def _effect(engine: PolicyEngine, tool: str, **arguments: Any) -> Effect:
    return engine.decide(ToolCall(agent="a", tool=tool, arguments=arguments)).effect


def test_known_follows_the_live_fact_source(tmp_path: Path) -> None:
    facts = LiveFacts()
    assert isinstance(facts, FactSource)
    engine = PolicyEngine.load(_policy(tmp_path, RULES), workspace=tmp_path, facts=facts)
    assert engine.facts is facts
    assert _effect(engine, "send_money", recipient="DE89") is Effect.ASK
    facts.sets["payees"].add("DE89")
    assert _effect(engine, "send_money", recipient="DE89") is Effect.ALLOW
    assert _effect(engine, "send_money", recipient="de89") is Effect.ASK  # exact match only
    assert ("payees", "DE89") in facts.asked


def test_known_on_lists_needs_every_item_and_a_non_empty_list(tmp_path: Path) -> None:
    facts = StaticFacts({"contacts": ["a@x.org", "b@x.org"]})
    engine = PolicyEngine.load(_policy(tmp_path, RULES), workspace=tmp_path, facts=facts)
    assert _effect(engine, "send_email", recipients=["a@x.org", "b@x.org"]) is Effect.ALLOW
    assert _effect(engine, "send_email", recipients=["a@x.org", "evil@y.org"]) is Effect.DENY
    assert _effect(engine, "send_email", recipients=[]) is Effect.DENY
    assert _effect(engine, "send_email", recipients=["a@x.org", 7]) is Effect.DENY
    assert _effect(engine, "send_email", recipients={"a@x.org": 1}) is Effect.DENY
    assert _effect(engine, "send_email") is Effect.DENY


def test_without_facts_known_is_false_and_its_negation_true(tmp_path: Path) -> None:
    engine = PolicyEngine.load(_policy(tmp_path, RULES), workspace=tmp_path)
    assert engine.facts is None
    assert _effect(engine, "send_money", recipient="DE89") is Effect.ASK
    assert _effect(engine, "send_email", recipients=["a@x.org"]) is Effect.DENY


def test_a_failing_fact_source_fails_closed(tmp_path: Path) -> None:
    class Broken:
        def contains(self, fact: str, value: str) -> bool:
            raise OSError("directory service down")

    engine = PolicyEngine.load(_policy(tmp_path, RULES), workspace=tmp_path, facts=Broken())
    decision = engine.decide(ToolCall(agent="a", tool="send_money", arguments={"recipient": "DE89"}))
    assert decision.effect is Effect.DENY
    assert "directory service down" in decision.reason


@pytest.mark.parametrize(
    ("cond", "problem"),
    [
        ('known(recipient, "pay ees")', "bad fact name"),
        ("known(recipient)", "takes 2 arguments"),
        ('known("recipient", "payees")', "must name a tool argument"),
    ],
)
def test_bad_known_conditions_fail_to_load_naming_the_line(tmp_path: Path, cond: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        PolicyEngine.load(_policy(tmp_path, f"p, *, send_money, {cond}, allow\n"), workspace=tmp_path)
    assert caught.value.line == 1
    assert problem in str(caught.value)


def test_stock_casbin_with_casbin_functions_agrees(tmp_path: Path) -> None:
    facts = StaticFacts({"payees": ["DE89"], "contacts": ["a@x.org"]})
    directory = _policy(tmp_path, RULES)
    engine = PolicyEngine.load(directory, workspace=tmp_path, facts=facts)
    enforcer = casbin.Enforcer(str(directory / "model.conf"), str(directory / "policy.csv"))
    for name, fn in engine.casbin_functions().items():
        enforcer.add_function(name, fn)
    requests = [
        ("send_money", {"recipient": "DE89"}),
        ("send_money", {"recipient": "US13"}),
        ("send_email", {"recipients": ["a@x.org"]}),
        ("send_email", {"recipients": ["a@x.org", "z@y.org"]}),
    ]
    for tool, args in requests:
        reference = next(
            (
                e
                for e in (Effect.DENY, Effect.ASK, Effect.ALLOW)
                if enforcer.enforce("a", tool, args, e.value)
            ),
            Effect.DENY,
        )
        assert _effect(engine, tool, **args) is reference, (tool, args)

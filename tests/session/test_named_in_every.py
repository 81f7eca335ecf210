"""``is(_, "name")`` inside ``every_url`` evaluates on the entity's own context (no second one is
built): it must answer exactly what the named condition's text written inline answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.session import Leaf, Session

RULES = """\
p, *, t.named, every_url(v, "is(_, \\"ok_link\\")"), allow
p, *, t.inline, every_url(v, "trusted(_) || host_in(_, \\"org\\")"), allow
p, *, t.nested, every_url(v, "is(_, \\"outer\\")"), allow
p, *, t.bare, is(_, "ok_link"), allow
p, *, t.deny_named, every_url(v, "!is(_, \\"ok_link\\")"), deny
p, *, t.deny_named, *, allow
p, *, t.deny_inline, every_url(v, "!(trusted(_) || host_in(_, \\"org\\"))"), deny
p, *, t.deny_inline, *, allow
"""
FACTS = """\
[sets]
org = ["example.com"]
[conditions]
ok_link = 'trusted(_) || host_in(_, "org")'
outer = 'is(_, "ok_link") && !untrusted_only(_)'
"""

BODIES = [
    "see https://docs.example.com/q3 and https://wiki.example.com/q3",
    "see https://docs.example.com/q3 and https://evil.example/drop",
    "only https://evil.example/drop here",
    "read https://news.example.org/a (the user asked for it)",
    "the page https://site3.example.net/ said so",
    "no links at all",
    "mixed www.example.com/x and https://site3.example.net/",
]


def decide(engine: PolicyEngine, tool: str, **arguments: Any) -> Effect:
    return engine.decide(ToolCall(agent="t", tool=tool, arguments=arguments)).effect


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, FACTS, None), workspace=tmp_path)


def _session() -> Session:
    session = Session(user_request="summarise https://news.example.org/a for me")
    session.record_result(
        tool="web.get",
        call_id="w" * 32,
        arguments={},
        leaves=[Leaf("$", "links: https://site3.example.net/ and https://evil.example/drop", "untrusted")],
    )
    return session


@pytest.mark.parametrize("body", BODIES)
def test_named_condition_answers_as_its_text_inline(engine: PolicyEngine, body: str) -> None:
    with _session().active():
        inline = decide(engine, "t.inline", v=body)
        assert decide(engine, "t.named", v=body) is inline
        # a deny rule over the negation (denied when every URL fails), named and inline
        assert decide(engine, "t.deny_named", v=body) is decide(engine, "t.deny_inline", v=body)
    # outside a session trusted(_) is false: only the org's hosts pass
    assert decide(engine, "t.named", v=body) is decide(engine, "t.inline", v=body)


def test_expected_answers(engine: PolicyEngine) -> None:
    with _session().active():
        assert decide(engine, "t.named", v=BODIES[0]) is Effect.ALLOW  # the org's hosts
        assert decide(engine, "t.named", v=BODIES[1]) is Effect.DENY  # an outside host
        assert decide(engine, "t.named", v=BODIES[3]) is Effect.ALLOW  # the user's own link
        assert decide(engine, "t.named", v=BODIES[4]) is Effect.DENY  # read only in a web page
        # nested names: ok_link holds, but the link is untrusted only
        assert decide(engine, "t.nested", v=BODIES[0]) is Effect.ALLOW
        assert decide(engine, "t.nested", v=BODIES[4]) is Effect.DENY
        assert decide(engine, "t.deny_named", v=BODIES[2]) is Effect.DENY  # its one URL fails
        assert decide(engine, "t.deny_named", v=BODIES[1]) is Effect.ALLOW  # one of two passes


def test_a_call_whose_only_argument_is_named_underscore(engine: PolicyEngine) -> None:
    with _session().active():
        assert decide(engine, "t.bare", _="https://news.example.org/a") is Effect.ALLOW
        assert decide(engine, "t.bare", _="https://wiki.example.com/") is Effect.ALLOW
        assert decide(engine, "t.bare", _="https://evil.example/drop") is Effect.DENY
        assert decide(engine, "t.bare", _=["https://evil.example/drop"]) is Effect.DENY
        assert decide(engine, "t.bare", v="https://wiki.example.com/") is Effect.DENY  # no "_"

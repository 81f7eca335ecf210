"""Conditions of one shape share their parse: the tree of ``glob(path, "/data/svc2/**")`` is the tree
of ``glob(path, "/data/svc1/**")`` with its string swapped. Compared here with a fresh parse of every
text, errors included, right after a text of a related shape filled the shared parses."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.policy import _condition_syntax
from agentguard.policy._condition_syntax import ConditionError, _Parser, _tokenize, parse_condition
from agentguard.policy._conditions import CompileEnv, EvalContext, compile_condition

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIECES = [
    "eq",
    "glob",
    "(",
    ")",
    "a",
    "x.y",
    ",",
    " ",
    "&&",
    "||",
    "!",
    "*",
    "1",
    '"x"',
    '"ab"',
    '"/data/s1/**"',
    '"a\\"b"',
    '"\\\\"',
    "\\",
    '"',
]
BODY = st.text(alphabet='ab/*"\\ é(),', max_size=6)


def _fresh(text: str) -> object:
    try:
        return _Parser(_tokenize(text)).parse()
    except ConditionError as exc:
        return ("error", exc.message, exc.column, exc.token)


def _shared(text: str) -> object:
    try:
        return parse_condition(text)
    except ConditionError as exc:
        return ("error", exc.message, exc.column, exc.token)


def _swap(text: str, bodies: list[str]) -> str:
    """``text`` with its quoted strings' bodies replaced, one by one, while ``bodies`` last."""
    left = iter(bodies)
    return re.sub(r'"([^"]*)"', lambda m: '"' + next(left, m.group(1)) + '"', text)


STRING = BODY.map(lambda body: '"' + body + '"')
ARG = st.one_of(st.sampled_from(["a", "x.y", "1", "*", "-2.5"]), STRING, STRING)
CALL = st.builds(
    lambda name, args: f"{name}({', '.join(args)})",
    st.sampled_from(["eq", "glob", "oneof", "nope", "sandbox", "x.y"]),
    st.lists(ARG, max_size=3),
)
TREE = st.recursive(
    CALL,
    lambda inner: st.one_of(
        inner.map(lambda t: "!" + t),
        inner.map(lambda t: "(" + t + ")"),
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["&&", "||"]), inner),
    ),
    max_leaves=5,
)
TEXT = st.one_of(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join), TREE)


@SETTINGS
@given(
    text=TEXT,
    bodies=st.lists(BODY, max_size=4),
    same_length=st.booleans(),
)
def test_a_shared_parse_is_the_fresh_parse(text: str, bodies: list[str], same_length: bool) -> None:
    if same_length:  # the case that shares: each new body as long as the one it replaces
        old = re.findall(r'"([^"]*)"', text)
        bodies = [(b * 8)[: len(o)] if b else "z" * len(o) for b, o in zip(bodies, old, strict=False)]
    other = _swap(text, bodies)
    assert _shared(text) == _fresh(text), text
    assert _shared(other) == _fresh(other), (text, other)
    assert _shared(text) == _fresh(text), text


def test_a_shape_compiles_each_string_of_its_own() -> None:
    env = CompileEnv(workspace="/w", home="/h", state="")
    first = compile_condition('glob(path, "/data/svc1/**") && !eq(mode, "aa")', env)
    second = compile_condition('glob(path, "/data/svc2/**") && !eq(mode, "bb")', env)
    assert first(EvalContext({"path": "/data/svc1/x", "mode": "cc"})) is True
    assert second(EvalContext({"path": "/data/svc1/x", "mode": "cc"})) is False
    assert second(EvalContext({"path": "/data/svc2/x", "mode": "aa"})) is True
    assert second(EvalContext({"path": "/data/svc2/x", "mode": "bb"})) is False
    assert parse_condition('eq(mode, "bb")') == _Parser(_tokenize('eq(mode, "bb")')).parse()


def test_a_shared_shape_still_checks_its_strings() -> None:
    """The second text parses as the first did, but its pattern is compiled and refused on its own."""
    env = CompileEnv(workspace="/w", home="/h", state="")
    _condition_syntax._shapes.clear()
    with pytest.raises(ConditionError) as alone:
        compile_condition('regex(cmd, "a(")', env)
    compile_condition('regex(cmd, "ab")', env)
    with pytest.raises(ConditionError) as shared:
        compile_condition('regex(cmd, "a(")', env)
    assert (shared.value.message, shared.value.column, shared.value.token) == (
        alone.value.message,
        alone.value.column,
        alone.value.token,
    )
    assert "bad regular expression 'a('" in shared.value.message


def test_the_shared_parses_stay_bounded() -> None:
    for n in range(_condition_syntax._MAX_SHAPES + 10):
        parse_condition(f'eq(a{n}, "x")')
    assert len(_condition_syntax._shapes) <= _condition_syntax._MAX_SHAPES

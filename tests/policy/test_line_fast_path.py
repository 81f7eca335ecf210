"""The policy reader's inline path for plain rule lines (``_PLAIN_RULE``) keeps exactly what the
line-by-line checks (``_LineReader._check_line``) keep, and leaves every problem to them; ``new_rule``
makes the same object as ``Rule(...)``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from casbin.persist.adapter import _extract_tokens
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.models import Effect, rule_ref
from agentguard.policy._conditions import CompileEnv, compile_condition
from agentguard.policy._policy_lines import _PLAIN_RULE, ParsedSource, _LineReader, parse_source
from agentguard.policy._types import Rule, new_rule

ENV = CompileEnv(workspace="/ws", home="/home/u", state="/home/u/.agentguard")
FIELDS = [
    "role1",
    "Agent-7",
    "r\u00f6le",  # the pattern takes these subjects; the name check refuses them
    "a#b",
    "x" * 201,
    "*",
    "review-*",
    "svc1.read",
    "svc1?.re[a-e]d",
    "*.svc1-export",
    "a{b,c}",
    "Svc.Read",
    "svc]x[",
    "*",
    'glob(path, "/data/svc1/**")',
    "lt(limit, 100)",
    'eq(force, "a,b")',
    'regex(reason, "(?i).*(drop|truncate).*")',
    "nosuch(x)",
    "(",
    ")",
    "[",
    "]",
    "",
    "allow",
    "deny",
    "ask",
    "Allow",
]
BLANKS = ["", " ", "\t", "  ", "\u00a0", "\x0b"]


def _slow(label: str, data: bytes, *, grant: bool) -> ParsedSource:
    """Every line through ``_check_line``, as before the inline path."""
    reader = _LineReader(ENV, {}, grant, 0)
    for number, text in enumerate(data.decode("utf-8").split("\n"), start=1):
        line = text.strip()
        if line and not line.startswith("#"):
            reader._check_line(line, label, number)
    return ParsedSource(
        tuple(reader.rules), tuple(reader.links), tuple(reader.errors), tuple(reader.skipped), 0
    )


def _same(fast: ParsedSource, slow: ParsedSource) -> None:
    assert [(r.ref, r.subject, r.tool, r.cond, r.effect, r.order, r.grant) for r in fast.rules] == [
        (r.ref, r.subject, r.tool, r.cond, r.effect, r.order, r.grant) for r in slow.rules
    ]
    assert [r.condition.text for r in fast.rules] == [r.condition.text for r in slow.rules]
    assert fast.errors == slow.errors
    assert fast.skipped == slow.skipped
    assert fast.links == slow.links


JUNK = ["", "(", ")", "[", "]", '"', "x,y"]
# By column, each value valid or not half the time, so that many lines are rules with one problem.
COLUMNS = [
    (["role1", "Agent-7", "*"], ["review-*", "r\u00f6le", "a#b", "x" * 201, *JUNK]),
    (["svc1.read", "svc1?.re[a-e]d", "*.svc1-export"], ["a{b,c}", "Svc.Read", "svc]x[", "a[b", *JUNK]),
    (["*", 'glob(path, "/data/svc1/**")', "lt(limit, 100)", 'eq(force, "a,b")'], ["nosuch(x)", "lt(", *JUNK]),
    (["allow", "deny", "ask"], ["Allow", "allow deny", *JUNK]),
]


def _column(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    blank = st.sampled_from(["", " ", " ", "\t", "\u00a0"])
    return st.tuples(blank, st.sampled_from(good) | st.sampled_from(bad), blank).map("".join)


_anything = st.tuples(st.sampled_from(BLANKS), st.sampled_from(FIELDS), st.sampled_from(BLANKS)).map("".join)
line_strategy = st.tuples(
    st.sampled_from(["p", "p", "p", "g", "P", "x"]),
    st.tuples(*(_column(*column) for column in COLUMNS)) | st.lists(_anything, max_size=6),
).map(lambda t: t[0] + "".join("," + field for field in t[1]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line_strategy, min_size=1, max_size=20), grant=st.booleans())
def test_the_inline_path_reads_lines_as_the_checks_do(lines: list[str], grant: bool) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    _same(
        parse_source("policy.csv", data, grant=grant, env=ENV, cache={}, first_order=0),
        _slow("policy.csv", data, grant=grant),
    )


@settings(max_examples=400, deadline=None)
@given(line=line_strategy)
def test_a_line_the_pattern_reads_splits_as_casbin_splits_it(line: str) -> None:
    fields = _PLAIN_RULE.fullmatch(line)
    if fields is None:
        return
    sub, tool, cond, act = fields.groups()
    assert _extract_tokens(line) == ["p", sub, tool, cond.strip(), act]


def test_bad_lines_among_plain_ones_still_fail_naming_file_and_line() -> None:
    data = (
        b"p, role1, svc1.read, *, allow\n"
        b"p, role1, svc1.read, nosuch(x), allow\n"
        b"p, review-*, a, *, deny\n"
        b"p, a#b, a, *, deny\n"
    )
    parsed = parse_source("policy.csv", data, grant=False, env=ENV, cache={}, first_order=0)
    assert [(e.file, e.line, e.code) for e in parsed.errors] == [
        ("policy.csv", 2, "unknown-function"),
        ("policy.csv", 3, "subject"),
        ("policy.csv", 4, "subject"),
    ]
    _same(parsed, _slow("policy.csv", data, grant=False))


def test_new_rule_is_a_rule() -> None:
    ref = rule_ref("policy.csv", 3, "p, role1, svc1.read, *, allow")
    condition = compile_condition("*", ENV)
    made = new_rule(ref, "role1", "svc1.read", "*", Effect.ALLOW, 7, condition, True)
    plain = Rule(ref, "role1", "svc1.read", "*", Effect.ALLOW, 7, condition, True)
    assert type(made) is Rule
    assert made == plain
    assert hash(made) == hash(plain)
    assert [getattr(made, f.name) for f in dataclasses.fields(Rule)] == [
        getattr(plain, f.name) for f in dataclasses.fields(Rule)
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.order = 8  # type: ignore[misc]
    assert dataclasses.replace(made, order=9).order == 9


def test_a_policy_file_with_no_plain_lines_loads_as_before(tmp_path: Path) -> None:
    data = b"g, agent1, role1\n# comment\n\np, role1, a{b,c}, *, allow\n"
    _same(
        parse_source("policy.csv", data, grant=False, env=ENV, cache={}, first_order=0),
        _slow("policy.csv", data, grant=False),
    )

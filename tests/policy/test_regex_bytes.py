"""``regex()`` matches the value's UTF-8 bytes: the same answer as the binding's text match, without
its character-offset bookkeeping (a successful match cost twice a failed one)."""

from __future__ import annotations

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.policy import _regex_match
from agentguard.policy._conditions import CompileEnv, EvalContext, compile_condition
from agentguard.policy._regex_match import RE2_OPTIONS, re2_source

ENV = CompileEnv(workspace="/", home="/", state="")
SOURCES = ["(?i).*(drop|truncate).*", "a.c", "[^x]*", "é+", ".", "\\\\u00e9.*", "(a|b)*c?"]


def _holds(source: str, value: object) -> bool | None:
    condition = compile_condition(f"regex(v, {source!r})".replace("'", '"'), ENV)
    return condition.predicate(EvalContext({"v": value}))


def test_a_regex_match_takes_no_character_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> int:
        raise AssertionError("character offsets worked out")

    monkeypatch.setattr(re2._re2, "CharLenToBytes", refuse)
    monkeypatch.setattr(re2._re2, "BytesToCharLen", refuse)
    assert _holds("(?i).*(drop|truncate).*", "DROP TABLE users1") is True
    assert _holds("(?i).*(drop|truncate).*", "routine 1") is False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), value=st.text(max_size=12))
def test_the_bytes_match_is_the_text_match(source: str, value: str) -> None:
    rx = re2.compile(re2_source(source), RE2_OPTIONS)
    try:
        want = rx.fullmatch(value) is not None
    except UnicodeEncodeError:  # lone surrogates: the binding cannot encode the text
        want = rx.fullmatch(value.encode("utf-8", "surrogatepass")) is not None
    assert _holds(source, value) is want


def test_values_that_are_not_text_never_match() -> None:
    assert _holds(".*", 5) is False
    assert _holds(".*", None) is False
    assert _holds(".*", ["a"]) is False


def test_the_binding_match_call_is_used_and_the_public_one_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """``regex()`` calls the binding's ``Match`` directly (checked once against ``fullmatch``); should a
    binding answer otherwise, ``fullmatch`` is used, with the same answers."""
    assert _regex_match._RAW_MATCH  # the installed binding: the direct call
    for raw in (True, False):
        monkeypatch.setattr(_regex_match, "_RAW_MATCH", raw)
        for source in SOURCES:
            rx = re2.compile(re2_source(source), RE2_OPTIONS)
            for value in ("", "DROP TABLE x", "routine", "abc", "ac", "é", "éé", "\\u00e9x", "x\ny"):
                want = rx.fullmatch(value.encode("utf-8", "surrogatepass")) is not None
                assert _holds(source, value) is want, (raw, source, value)

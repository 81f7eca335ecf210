"""``read_result`` reads a JSON result (a wire result) as it is, without converting it first.

A differential test: the same reading (shown value, marks, leaves, fields) as the general way
(``_unreadable``, then ``readable``'s converted copy) for generated JSON with secrets, PII, keys,
non-finite floats, registered ``dict`` subclasses, and values that are not plain JSON (tuples,
``OrderedDict``, objects, deep nesting), which take the general way.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard.integrations.mcp._fast_upstream import WireResult
from agentguard.session import Session, _record
from agentguard.session._record import _plain_json, read_result

TOKEN = "ghp_" + "d" * 36
IBAN = "DE89370400440532013000"

TEXT = st.sampled_from(["hello", TOKEN, IBAN, "bob@example.com", "", "pay " + IBAN, "x" * 40]) | st.text(
    max_size=6
)
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | TEXT


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = TEXT
    return (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=3).map(WireResult)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=3).map(OrderedDict)
    )


VALUES = st.recursive(SCALAR, _containers, max_leaves=12)


class _Printed:
    def __str__(self) -> str:
        return f"token {TOKEN}"


def _reading(value: Any) -> tuple[Any, ...]:
    read = read_result(None, Session(session_id="s"), tool="t", value=value)
    leaves = [(leaf.path, leaf.value, leaf.trust) for leaf in read.leaves]
    return (read.shown is value, read.fields, read.withheld, read.marks, leaves)


def _both(value: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fast = _reading(value)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_record, "_plain_json", lambda *_: False)
        general = _reading(value)
    return fast, general


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_a_json_result_is_read_as_the_general_way_reads_it(value: Any) -> None:
    fast, general = _both(value)
    assert _same(fast, general)


@pytest.mark.parametrize(
    "value",
    [
        WireResult({"content": [{"type": "text", "text": f"pay {IBAN}, key {TOKEN}"}], "isError": False}),
        {"a": [TOKEN[:20], TOKEN[20:]]},  # a key split across a list's items
        {"n": float("inf"), "m": float("nan"), "big": 2**80},
        {"obj": _Printed()},
        (TOKEN,),
        {1: TOKEN},
    ],
)
def test_examples(value: Any) -> None:
    fast, general = _both(value)
    assert _same(fast, general)


def test_what_is_plain() -> None:
    assert _plain_json(WireResult({"content": [{"text": "x"}]}))
    assert _plain_json({"a": [1, 2.5, None, True, "x"]})
    for value in ({1: "x"}, ("x",), OrderedDict(a=1), {"a": _Printed()}, {"a": b"x"}):
        assert not _plain_json(value)
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    assert not _plain_json(deep)  # deep values take the general way (which may give up on them)
    fast, general = _both(deep)
    assert _same(fast, general)

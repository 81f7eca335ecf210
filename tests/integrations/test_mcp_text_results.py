"""``text_result`` stands in for the SDK's ``serialize_server_result`` on the commonest ``tools/call``
result (text items, maybe structured content): where it answers, its answer must be the SDK's dump,
key order included (the answer line and the audit summary are written from it); anything it cannot
answer exactly is left to the SDK (None)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from agentguard.integrations.mcp._fast_upstream import parse_line, text_result

VERSIONS = list(HANDSHAKE_PROTOCOL_VERSIONS)


def _text(text: Any) -> dict[str, Any]:
    return {"type": "text", "text": text}


ANSWERED: list[dict[str, Any]] = [
    {"content": []},
    {"content": [_text("hi")]},
    {"content": [_text("hi"), _text("")], "isError": True},
    {"content": [_text("\ud800 lone surrogate")], "isError": False},
    {"content": [_text("hi")], "structuredContent": {}},
    {"content": [_text("hi")], "structuredContent": {"result": None, "n": [1, 2**70, -0.0, 1.5e300]}},
    {"content": [_text("x")], "structuredContent": {"a": {"b": [{"c": None}, "é", True]}}, "isError": False},
]
DECLINED: list[dict[str, Any]] = [
    {},  # no content: the surface model's own verdict
    {"content": "x"},
    {"content": [_text(1)]},  # not text: refused by the SDK
    {"content": [{"type": "text"}]},
    {"content": [{**_text("a"), "extra": 1}]},  # dropped by the SDK: its dump differs
    {"content": [{**_text("a"), "annotations": {"priority": 0.5}}]},
    {"content": [{**_text("a"), "_meta": {}}]},
    {"content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]},
    {"content": [], "isError": "yes"},  # coerced by the SDK
    {"content": [], "isError": 1},
    {"content": [], "isError": None},
    {"content": [], "structuredContent": None},
    {"content": [], "structuredContent": [1]},
    {"content": [], "structuredContent": {"x": float("inf")}},  # the SDK writes null
    {"content": [], "structuredContent": {"x": [{"y": float("-inf")}]}},
    {"content": [], "_meta": {"k": 1}},
    {"content": [], "resultType": "complete"},
]


def _same(mine: dict[str, Any], sdk: dict[str, Any]) -> None:
    assert mine == sdk
    assert json.dumps(mine) == json.dumps(sdk)  # the same keys in the same order, at every level


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("raw", ANSWERED)
def test_a_text_result_is_the_sdks_dump(version: str, raw: dict[str, Any]) -> None:
    mine = text_result(version, raw)
    assert mine is not None
    _same(mine, methods.serialize_server_result("tools/call", version, raw))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("raw", DECLINED)
def test_anything_else_is_left_to_the_sdk(version: str, raw: dict[str, Any]) -> None:
    assert text_result(version, raw) is None


def test_an_unknown_version_is_left_to_the_sdk() -> None:
    assert text_result("2099-01-01", {"content": [_text("hi")]}) is None


def test_a_deep_structured_content_is_left_to_the_sdk() -> None:
    deep: Any = {}
    for _ in range(40):
        deep = {"d": [deep]}
    assert text_result(VERSIONS[-1], {"content": [], "structuredContent": deep}) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
_item = st.one_of(
    st.builds(_text, st.text()),
    st.dictionaries(st.sampled_from(["type", "text", "annotations", "_meta"]), _json, max_size=3),
)
_raw = st.fixed_dictionaries(
    {"content": st.lists(_item, max_size=3)},
    optional={"isError": _json, "structuredContent": _json, "_meta": _json},
)


@settings(max_examples=400, deadline=None)
@given(raw=_raw, version=st.sampled_from(VERSIONS))
def test_whatever_it_answers_is_the_sdks_dump(raw: dict[str, Any], version: str) -> None:
    # as the server's line gives it: what the parser reads (1e400 is an infinite float)
    raw = parse_line(json.dumps(raw).replace("Infinity", "1e400").replace("NaN", "0"))
    mine = text_result(version, raw)
    if mine is not None:
        _same(mine, methods.serialize_server_result("tools/call", version, raw))

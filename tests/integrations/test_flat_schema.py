"""``flat_properties``: a schema it calls flat has the declared-only form the schema walk gives.

The adapters' argument check takes a flat schema's declared keys with one comprehension instead of
walking the schema (``declared_only(root, _with_defaults(root, data))``) on every call. Here the
two are held to each other on generated schemas (flat ones, and ones with each thing the walk
reads: defaults, ``$ref``, nested properties, decimals, combinators, kept extras) and arguments:
the same keys, in the same order, with the very same value objects.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard.integrations._arguments import json_schema_model
from agentguard.integrations._declared import declared_only
from agentguard.integrations._flat_schema import flat_properties
from agentguard.integrations._schema_defaults import _with_defaults

NAMES = st.sampled_from(["path", "text", "n", "default", "items", "PATH", "x"])
LEAF_NODES = st.sampled_from(
    [
        True,
        {},
        {"type": "string"},
        {"type": "integer", "minimum": 0},
        {"type": "array"},
        {"type": "object"},
        {"type": "string", "title": "Text", "description": "any text"},
    ]
)
READ_NODES = st.sampled_from(
    [
        {"type": "string", "default": "a"},
        {"$ref": "#/$defs/thing"},
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"type": "object", "additionalProperties": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
        {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
        {"type": "array", "prefixItems": [{"type": "string"}]},
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": "^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$"}]},
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "object", "examples": [{"default": 1}]},
    ]
)
ROOT_EXTRAS = st.sampled_from(
    [
        {},
        {},
        {"required": ["path"]},
        {"additionalProperties": False},
        {"additionalProperties": True},
        {"patternProperties": {"^x": {"type": "string"}}},
        {"$defs": {"thing": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        {"allOf": [{"required": ["path"]}]},
        {"title": "echoArguments"},
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.just("1.50"),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3) | NAMES, inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    properties = draw(st.dictionaries(NAMES, LEAF_NODES | READ_NODES, max_size=4))
    return {"type": "object", "properties": properties, **draw(ROOT_EXTRAS)}


@settings(max_examples=600, deadline=None)
@given(schemas(), st.dictionaries(NAMES | st.text(max_size=3), JSON, max_size=5))
def test_a_flat_schema_filters_as_the_walk_does(schema: dict[str, Any], data: dict[str, Any]) -> None:
    names = flat_properties(schema)
    if names is None:
        return
    walked = declared_only(schema, _with_defaults(schema, data))
    filtered = {key: item for key, item in data.items() if key in names}
    assert list(filtered) == list(walked)
    assert all(filtered[key] is walked[key] for key in walked)


def test_what_the_walk_reads_is_not_flat() -> None:
    leaf = {"type": "string"}
    assert flat_properties({"type": "object", "properties": {"text": leaf}}) == {"text"}
    for node in (
        {"type": "string", "default": "a"},
        {"$ref": "#/$defs/x"},
        {"type": "object", "properties": {}},
        {"anyOf": [{"type": "number"}, {"type": "string"}]},
        {"type": "array", "items": {}},
    ):
        assert flat_properties({"type": "object", "properties": {"text": leaf, "other": node}}) is None
    for extra in ({"additionalProperties": True}, {"allOf": []}, {"$ref": "#/x"}, {"items": {}}):
        assert flat_properties({"type": "object", "properties": {"text": leaf}, **extra}) is None
    assert flat_properties({"type": "object"}) is None
    assert flat_properties({"properties": {"default": leaf}}) is None  # any "default" text: the walk


def test_the_model_keeps_the_declared_keys_of_a_flat_schema() -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    model = json_schema_model("mcp.echo.echo", schema, json_text=True)
    parsed = model.model_validate({"text": "hello", "decoy": "todo.md"})
    assert parsed.model_dump() == {"text": "hello"}

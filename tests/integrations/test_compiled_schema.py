"""The compiled JSON-schema check (jsonschema-rs) may only say "valid" where ``jsonschema`` says so too.

Whatever it refuses is asked of ``jsonschema`` again, so a schema check can only be weakened if it
takes an instance ``jsonschema`` refuses. Hypothesis builds schemas from every keyword the compiled
check is offered for, and instances around them, and checks that one direction; and the keywords
it is never offered for are pinned.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import validators

from agentguard.integrations._arguments import json_schema_model
from agentguard.integrations._compiled_schema import compiled

NAMES = st.sampled_from(["a", "b", "id", "pattern", "é", "x y"])
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 1.0, -0.0, 0.5, 2**53, 2**53 + 1, 1e308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(NAMES | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])


def _schemas(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    keyword = st.one_of(
        st.tuples(st.just("type"), TYPES | st.lists(TYPES, min_size=1, max_size=3, unique=True)),
        st.tuples(st.just("properties"), st.dictionaries(NAMES, inner, max_size=3)),
        st.tuples(st.just("required"), st.lists(NAMES, max_size=3, unique=True)),
        st.tuples(st.just("additionalProperties"), st.booleans() | inner),
        st.tuples(st.just("items"), inner),
        st.tuples(st.just("prefixItems"), st.lists(inner, min_size=1, max_size=2)),
        st.tuples(st.just("contains"), inner),
        st.tuples(st.just("propertyNames"), inner),
        st.tuples(st.sampled_from(["minItems", "maxItems", "minLength", "maxLength"]), st.integers(0, 3)),
        st.tuples(st.sampled_from(["minProperties", "maxProperties"]), st.integers(0, 3)),
        st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), NUMBERS),
        st.tuples(st.just("enum"), st.lists(JSON, min_size=1, max_size=3)),
        st.tuples(st.just("const"), JSON),
        st.tuples(st.just("uniqueItems"), st.booleans()),
        st.tuples(st.sampled_from(["anyOf", "oneOf", "allOf"]), st.lists(inner, min_size=1, max_size=3)),
        st.tuples(st.just("not"), inner),
        st.tuples(st.just("format"), st.sampled_from(["email", "date-time", "uri", "ipv4", "regex", "x"])),
        st.tuples(st.sampled_from(["title", "description"]), st.text(max_size=5)),
        st.tuples(st.just("default"), JSON),
    )
    return st.lists(keyword, max_size=4).map(dict)


SCHEMAS: st.SearchStrategy[Any] = st.recursive(
    st.just({}) | st.booleans().map(lambda b: {"not": {}} if not b else {}), _schemas, max_leaves=8
)


def _with_refs(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$defs": {"node": schema}, "anyOf": [{"$ref": "#/$defs/node"}, schema]}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, instances=st.lists(JSON, min_size=1, max_size=5), refs=st.booleans())
def test_the_compiled_check_takes_nothing_jsonschema_refuses(
    schema: dict[str, Any], instances: list[Any], refs: bool
) -> None:
    if refs:
        schema = _with_refs(schema)
    check = compiled(schema)
    if check is None:
        return
    python = validators.validator_for(schema)(schema)
    for instance in instances:
        if check(instance):
            assert python.is_valid(instance), (schema, instance)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a$"},  # "a\n" passes Python's $, not Rust's
        {"patternProperties": {"^x": {}}},
        {"type": "number", "multipleOf": 0.01},
        {"if": {}, "then": {}},
        {"$ref": "https://example.com/schema"},  # never fetched
        {"$schema": "https://example.com/my-draft", "type": "object"},
        {"properties": {"a": {"$id": "https://example.com/a"}}},
        {"type": "nonsense"},  # jsonschema refuses the schema itself
    ],
)
def test_schemas_the_engines_read_differently_are_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compiled(schema) is None


def test_properties_named_like_keywords_are_still_compiled() -> None:
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}, "id": {"type": "integer"}}}
    check = compiled(schema)
    assert check is not None
    assert check({"pattern": "x", "id": 3})
    assert not check({"id": "3"})


def test_a_tuple_is_not_an_array_and_the_arguments_say_why() -> None:
    """The compiled check reads plain JSON only: a tuple jsonschema refuses as an array stays refused."""
    model = json_schema_model("t", {"type": "object", "properties": {"xs": {"type": "array"}}})
    model.model_validate({"xs": [1, 2]})
    with pytest.raises(ValueError, match="is not of type 'array'"):
        model.model_validate({"xs": (1, 2)})


def test_a_refusal_still_carries_jsonschemas_message() -> None:
    model = json_schema_model("t", {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}})
    with pytest.raises(ValueError, match=r"n: 5 is greater than the maximum of 3"):
        model.model_validate({"n": 5})


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"type": "object", "properties": {"child": {"$ref": "#"}}},
        {"$defs": {"d": {"prefixItems": [{}], "$ref": "#/$defs/d"}}, "propertyNames": {"$ref": "#/$defs/d"}},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/missing"},
    ],
)
def test_a_ref_that_could_lead_back_to_itself_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    """jsonschema-rs calls an instance valid where ``jsonschema`` never ends the cycle."""
    assert compiled(schema) is None


def test_a_ref_to_a_part_without_refs_is_still_compiled() -> None:
    schema = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    check = compiled(schema)
    assert check is not None
    assert not check({"a": "1"})


DRAFTS = st.sampled_from(
    [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ]
)
WIDE = st.one_of(
    NUMBERS, st.sampled_from([2**63 - 1, 2**64 - 1, 2**64, 9007199254740993, 9007199254740992.0, 1.0, True])
)


def _draft_schemas(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Keywords whose reading changed between drafts, and refs into ``definitions``/``$defs``."""
    keyword = st.one_of(
        st.tuples(st.just("items"), inner | st.lists(inner, max_size=2)),
        st.tuples(st.just("additionalItems"), st.booleans() | inner),
        st.tuples(st.just("prefixItems"), st.lists(inner, min_size=1, max_size=2)),
        st.tuples(st.sampled_from(["minContains", "maxContains"]), st.integers(0, 2)),
        st.tuples(st.just("contains"), inner),
        st.tuples(st.sampled_from(["exclusiveMinimum", "exclusiveMaximum"]), st.booleans() | WIDE),
        st.tuples(st.sampled_from(["minimum", "maximum"]), WIDE),
        st.tuples(st.sampled_from(["enum"]), st.lists(JSON | WIDE, min_size=1, max_size=3)),
        st.tuples(st.just("const"), JSON | WIDE),
        st.tuples(st.just("uniqueItems"), st.booleans()),
        st.tuples(st.sampled_from(["minLength", "maxLength"]), st.integers(0, 2)),
        st.tuples(st.just("$ref"), st.sampled_from(["#/definitions/d", "#/$defs/d"])),
        st.tuples(st.just("contentEncoding"), st.just("base64")),
        st.tuples(st.just("type"), TYPES),
    )
    return st.lists(keyword, max_size=4).map(dict)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=_draft_schemas(SCHEMAS),
    defs=SCHEMAS,
    draft=DRAFTS,
    instances=st.lists(
        JSON | WIDE | st.sampled_from(["😀", "a\u0301", [1, True], [1, 1.0]]), min_size=1, max_size=5
    ),
)
def test_under_every_draft_the_compiled_check_takes_nothing_jsonschema_refuses(
    schema: dict[str, Any], defs: dict[str, Any], draft: str, instances: list[Any]
) -> None:
    schema = {**schema, "$schema": draft, "definitions": {"d": defs}, "$defs": {"d": defs}}
    check = compiled(schema)
    if check is None:
        return
    python = validators.validator_for(schema)(schema)
    for instance in instances:
        if check(instance):
            assert python.is_valid(instance), (schema, instance)

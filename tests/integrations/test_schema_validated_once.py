"""A tool's JSON schema is checked once per unchanged call; anything that changed is checked again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agentguard.integrations import _arguments
from agentguard.integrations._arguments import json_schema_model

ECHO = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def _model(schema: Any) -> type[BaseModel]:
    return json_schema_model("mcp.t.tool", schema)


def test_the_same_plain_arguments_are_checked_once(schema_checks: list[Any]) -> None:
    model = _model(ECHO)
    model.model_validate({"text": "hello"})
    model.model_validate({"text": "hello"})
    assert len(schema_checks) == 1


def test_different_arguments_are_checked_again(schema_checks: list[Any]) -> None:
    model = _model(ECHO)
    model.model_validate({"text": "hello"})
    model.model_validate({"text": "hello 2"})
    assert len(schema_checks) == 2


def test_arguments_that_failed_are_never_remembered(schema_checks: list[Any]) -> None:
    model = _model(ECHO)
    for _ in range(2):
        with pytest.raises(ValidationError):
            model.model_validate({"text": 1})
    assert len(schema_checks) == 2


def test_a_changed_schema_checks_again() -> None:
    current: dict[str, Any] = {"schema": ECHO}
    model = _model(lambda: current["schema"])
    model.model_validate({"text": "hello"})
    current["schema"] = {**ECHO, "properties": {"text": {"type": "string", "maxLength": 2}}}
    with pytest.raises(ValidationError):
        model.model_validate({"text": "hello"})


def test_a_tuple_is_not_taken_for_the_list_it_dumps_as() -> None:
    # JSON schema does not call a tuple an array: the tuple passes, the same JSON as a list must not.
    model = _model({"type": "object", "properties": {"x": {"not": {"type": "array"}}}})
    model.model_validate({"x": (1, 2)})
    with pytest.raises(ValidationError):
        model.model_validate({"x": [1, 2]})


def test_the_decided_form_is_checked_when_dropping_keys_changed_it(schema_checks: list[Any]) -> None:
    # The undeclared key is dropped; what is left breaks the schema and must be caught the second time.
    model = _model({"type": "object", "properties": {"a": {}}, "minProperties": 2})
    parsed = model.model_validate({"a": 1, "b": 2})
    decided = parsed.model_dump(mode="json")
    assert decided == {"a": 1}
    with pytest.raises(ValidationError):
        model.model_validate(decided)
    assert len(schema_checks) == 2


def test_large_arguments_are_not_remembered(schema_checks: list[Any]) -> None:
    model = _model(ECHO)
    big = {"text": "x" * (_arguments._Passed.MAX_BYTES + 1)}
    model.model_validate(big)
    model.model_validate(big)
    assert len(schema_checks) == 2


def test_the_memory_is_bounded(schema_checks: list[Any]) -> None:
    model = _model(ECHO)
    for i in range(_arguments._Passed.ENTRIES + 1):
        model.model_validate({"text": str(i)})
    model.model_validate({"text": "0"})  # the memory was full and emptied: checked again
    assert len(schema_checks) == _arguments._Passed.ENTRIES + 2

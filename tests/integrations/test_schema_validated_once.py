"""A tool's JSON schema is checked once per unchanged call; anything that changed is checked again."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agentguard.integrations import _arguments
from agentguard.integrations._arguments import json_schema_model

ECHO = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every instance the JSON-schema validator is run on."""
    seen: list[Any] = []
    real = _arguments._validator

    class Counting:
        def __init__(self, schema: Mapping[str, Any]) -> None:
            self.inner = real(schema)

        def iter_errors(self, instance: Any) -> Iterator[Any]:
            seen.append(instance)
            return iter(self.inner.iter_errors(instance))

    monkeypatch.setattr(_arguments, "_validator", Counting)
    return seen


def _model(schema: Any) -> type[BaseModel]:
    return json_schema_model("mcp.t.tool", schema)


def test_the_same_plain_arguments_are_checked_once(checks: list[Any]) -> None:
    model = _model(ECHO)
    model.model_validate({"text": "hello"})
    model.model_validate({"text": "hello"})
    assert len(checks) == 1


def test_different_arguments_are_checked_again(checks: list[Any]) -> None:
    model = _model(ECHO)
    model.model_validate({"text": "hello"})
    model.model_validate({"text": "hello 2"})
    assert len(checks) == 2


def test_arguments_that_failed_are_never_remembered(checks: list[Any]) -> None:
    model = _model(ECHO)
    for _ in range(2):
        with pytest.raises(ValidationError):
            model.model_validate({"text": 1})
    assert len(checks) == 2


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


def test_the_decided_form_is_checked_when_dropping_keys_changed_it(checks: list[Any]) -> None:
    # The undeclared key is dropped; what is left breaks the schema and must be caught the second time.
    model = _model({"type": "object", "properties": {"a": {}}, "minProperties": 2})
    parsed = model.model_validate({"a": 1, "b": 2})
    decided = parsed.model_dump(mode="json")
    assert decided == {"a": 1}
    with pytest.raises(ValidationError):
        model.model_validate(decided)
    assert len(checks) == 2


def test_large_arguments_are_not_remembered(checks: list[Any]) -> None:
    model = _model(ECHO)
    big = {"text": "x" * (_arguments._Passed.MAX_BYTES + 1)}
    model.model_validate(big)
    model.model_validate(big)
    assert len(checks) == 2


def test_the_memory_is_bounded(checks: list[Any]) -> None:
    model = _model(ECHO)
    for i in range(_arguments._Passed.ENTRIES + 1):
        model.model_validate({"text": str(i)})
    model.model_validate({"text": "0"})  # the memory was full and emptied: checked again
    assert len(checks) == _arguments._Passed.ENTRIES + 2

"""The guard builds its ``ToolCall`` without pydantic's per-field machinery: the result must be the
model ``model_construct`` and ``model_validate`` make, frozen like it, and serialise the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agentguard._guard.receive import _built_call
from agentguard.models import RuleRef, ToolCall, new_id, rule_ref


def _fields(**over: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "id": new_id(),
        "agent": "agent",
        "tool": "fs.read",
        "arguments": {"path": "a.txt", "n": [1, 2]},
        "session": "s-1",
        "framework": None,
        "time": datetime.now(UTC),
    }
    fields.update(over)
    return fields


@pytest.mark.parametrize("over", [{}, {"session": None}, {"framework": "mcp"}, {"arguments": {}}])
def test_built_call_is_the_model(over: dict[str, object]) -> None:
    fields = _fields(**over)
    built = _built_call(dict(fields))
    constructed = ToolCall.model_construct(**fields)
    validated = ToolCall.model_validate(fields)
    assert built == constructed == validated
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_copy(update={"tool": "x"}).tool == "x"
    with pytest.raises(ValidationError):
        built.tool = "other"  # type: ignore[misc]


def test_missing_or_extra_fields_fall_back() -> None:
    fields = _fields()
    del fields["framework"]
    assert _built_call(dict(fields)).framework is None  # model_construct's default
    same = _fields()
    assert _built_call({**same, "extra": 1}) == ToolCall.model_construct(**same, extra=1)


def test_call_ids_are_32_hex_and_distinct() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in ids)


def test_rule_ref_is_the_model() -> None:
    """The policy reader's ``RuleRef`` (one per line of a large policy) is the validated model."""
    made = rule_ref("policy.csv", 12, "p, *, fs.read, *, allow")
    validated = RuleRef(file="policy.csv", line=12, text="p, *, fs.read, *, allow")
    assert made == validated
    assert hash(made) == hash(validated)
    assert made.model_fields_set == validated.model_fields_set
    assert made.model_dump_json() == validated.model_dump_json()
    assert str(made) == "policy.csv:12"
    assert made.model_copy(update={"line": 3}).line == 3
    assert made.line == 12
    assert rule_ref("a", 1, "x").model_fields_set is not rule_ref("a", 1, "x").model_fields_set
    with pytest.raises(ValidationError):
        made.line = 1  # type: ignore[misc]

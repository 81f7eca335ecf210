"""MCP: an integer past 2**53 is decided exactly but read rounded by a JavaScript server.

The proxy decides on Python's exact integer and forwards it as written; a Node server (most MCP
servers) reads every JSON number as a double. ``eq(user, 9007199254740992), deny`` let
``9007199254740993`` by, and the server acted on 9007199254740992. Such integers are now refused,
naming the field (send the id as a string).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, InvalidArguments, PolicyDenied
from agentguard.integrations import json_schema_model
from tests.rules_guard import guard_on_rules

RULES = """
p, *, *, *, allow
p, *, delete_user, eq(user, 9007199254740992), deny
"""

SCHEMA = {
    "type": "object",
    "properties": {"user": {"type": "integer"}, "tags": {"type": "array"}},
    "required": ["user"],
}

ran: list[Any] = []


def _delete(**arguments: Any) -> str:
    ran.append(arguments)
    return "deleted"


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    guard = guard_on_rules(tmp_path, RULES, ())
    guard.register(
        "delete_user", _delete, args_model=json_schema_model("delete_user", SCHEMA, json_text=True)
    )
    ran.clear()
    return guard


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"user": 9007199254740993}, "user"),
        ({"user": -9007199254740993}, "user"),
        ({"user": 1, "tags": [1, 9007199254740993]}, "tags.1"),
    ],
)
def test_an_integer_a_javascript_server_rounds_is_refused(
    guard: Guard, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidArguments, match=f"{field}: .*2\\*\\*53"):
        guard.call("delete_user", arguments)
    assert ran == []


def test_exact_integers_and_digit_strings_still_pass(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("delete_user", {"user": 9007199254740992})
    assert (
        guard.call("delete_user", {"user": 9007199254740991, "tags": ["12345678901234567890"]}) == "deleted"
    )
    assert ran == [{"user": 9007199254740991, "tags": ["12345678901234567890"]}]

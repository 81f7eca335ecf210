"""Agents SDK: a function tool's own pydantic validators transform what the policy decided on.

The guard decides on the model's JSON arguments, checked against the tool's ``params_json_schema``.
That schema cannot say what the tool's pydantic model does to a value on the way in: a validator
that percent-decodes, ``StringConstraints(to_lower=True)``, ``strip_whitespace``. The tool then ran
``"secret"`` and ``"rm"`` where the policy decided on ``"sec%72et"`` and ``"RM"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

import orjson
import pytest
from agents import function_tool
from pydantic import AfterValidator, StringConstraints

from agentguard import Guard
from agentguard.integrations.openai_agents import guard_function_tools

from .conftest import invoke_agents_tool

RULES = """
p, *, *, *, allow
p, *, read_note, regex(name, ".*secret.*"), deny
p, *, run, eq(command, "rm"), deny
"""

RAN: list[Any] = []


@function_tool
def read_note(name: Annotated[str, AfterValidator(unquote)]) -> str:
    """Read a note."""
    RAN.append(name)
    return "note"


@function_tool
def run(command: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True)]) -> str:
    """Run a command."""
    RAN.append(command)
    return "ran"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def _invoke(guarded: Any, arguments: dict[str, Any]) -> Any:
    return await invoke_agents_tool(guarded, orjson.dumps(arguments).decode())


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [(read_note, {"name": "sec%72et"}), (run, {"command": "RM"}), (run, {"command": " rm "})],
)
async def test_a_value_the_tool_parses_into_another_is_not_run(
    make_guard: Callable[..., Guard], tool: Any, arguments: dict[str, Any]
) -> None:
    (guarded,) = guard_function_tools(make_guard(RULES), [tool])
    answer = await _invoke(guarded, arguments)
    assert RAN == []
    assert "refused" in str(answer)


async def test_a_value_the_tool_keeps_runs(make_guard: Callable[..., Guard]) -> None:
    guarded = guard_function_tools(make_guard(RULES), [read_note, run])
    assert await _invoke(guarded[0], {"name": "notes"}) == "note"
    assert await _invoke(guarded[1], {"command": "ls"}) == "ran"
    assert RAN == ["notes", "ls"]

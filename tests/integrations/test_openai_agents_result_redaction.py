"""What the Agents SDK shows the model of a guarded function tool's result or error is what the guard
read, marked and redacted.

Classes:
- the SDK turns a result that is not text (nor a structured tool output) into the function-call
  output with ``str()``; the guard read the result's JSON dump instead, so a secret only the printed
  form shows (a ``Field(exclude=True)`` a model's ``str`` prints, a custom ``__str__``, an object in a
  dict printed with ``repr``) reached the model unredacted and left the session unmarked;
- a tool whose failures the SDK does not format (``failure_error_function=None``) had its exception
  re-raised as it was: the run's ``UserError`` (and a trace) quoted the secret.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool, set_tracing_disabled
from agents.exceptions import UserError
from pydantic import BaseModel, Field

from agentguard import Guard, Settings
from agentguard.audit import AuditLog
from agentguard.integrations.openai_agents import guard_function_tools
from agentguard.integrations.openai_agents.testing import ScriptedModel, tool_call

set_tracing_disabled(True)

TOKEN = "ghp_" + "d" * 36
OUTPUTS = """
[[output]]
tool = "read_*"
redact = ["secret"]
"""


class Account(BaseModel):
    name: str
    token: str = Field(exclude=True)


class Printed:
    def __str__(self) -> str:
        return f"Printed({TOKEN})"


class Shy:
    def __str__(self) -> str:
        return "Shy(...)"

    def __repr__(self) -> str:
        return f"Shy(key={TOKEN})"


class Report(BaseModel):
    title: str
    body: str


@pytest.fixture
def guard(make_policy: Callable[[str], Path], settings: Settings, audit_path: Path) -> Any:
    directory = make_policy("p, *, *, *, allow")
    (directory / "outputs.toml").write_text(OUTPUTS, encoding="utf-8")
    with Guard(directory, audit=AuditLog(audit_path), settings=settings) as g:
        yield g


def returning(name: str, value: Any, **kw: Any) -> FunctionTool:
    def fn(q: str) -> Any:
        """A tool."""
        if isinstance(value, BaseException):
            raise value
        return value

    fn.__name__ = name
    return function_tool(fn, **kw)


async def run(tools: list[FunctionTool], name: str) -> ScriptedModel:
    model = ScriptedModel([tool_call(name, {"q": "x"}), "done"])
    agent = Agent(name="a", instructions="go", model=model, tools=tools)
    await Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))
    return model


SHAPES = [
    ("model with an excluded field", Account(name="svc", token=TOKEN)),
    ("printed object", Printed()),
    ("object in a dict", {"item": Shy()}),
]


@pytest.mark.parametrize(("shape", "value"), SHAPES, ids=[s for s, _ in SHAPES])
async def test_the_text_the_sdk_shows_is_what_is_redacted(guard: Guard, shape: str, value: Any) -> None:
    tools = guard_function_tools(guard, [returning("read_thing", value)])
    with guard.session(user_request="read it") as session:
        model = await run(tools, "read_thing")
        assert session.has_read("secret"), shape
    (shown,) = model.tool_outputs()
    assert TOKEN not in shown, shape
    assert "[REDACTED:" in shown, shape


@pytest.mark.parametrize(("shape", "value"), SHAPES, ids=[s for s, _ in SHAPES])
async def test_the_text_the_sdk_shows_marks_the_session(guard: Guard, shape: str, value: Any) -> None:
    tools = guard_function_tools(guard, [returning("peek", value)])
    with guard.session(user_request="peek") as session:
        model = await run(tools, "peek")
        assert session.has_read("secret"), shape
    assert TOKEN in model.tool_outputs()[0]


async def test_outputs_are_shown_as_the_sdk_shows_them(guard: Guard) -> None:
    values: list[Any] = [
        "plain",
        {"a": 1},
        Report(title="t", body="b"),
        {"type": "text", "text": "a structured output"},
        [1, 2],
        None,
    ]
    for n, value in enumerate(values):
        original = returning(f"peek{n}", value)
        (guarded,) = guard_function_tools(guard, [original])
        want = (await run([original], f"peek{n}")).tool_outputs()
        got = (await run([guarded], f"peek{n}")).tool_outputs()
        assert got == want, value


async def test_a_typed_output_schema_still_validates(guard: Guard) -> None:
    def read_report(q: str) -> Report:
        """Read a report."""
        return Report(title="keys", body=f"the key is {TOKEN}")

    (guarded,) = guard_function_tools(guard, [function_tool(read_report)])
    (shown,) = (await run([guarded], "read_report")).tool_outputs()
    assert TOKEN not in shown
    assert "[REDACTED:" in shown


async def test_an_unformatted_failure_is_redacted(guard: Guard) -> None:
    tools = guard_function_tools(
        guard, [returning("read_config", ValueError(f"bad token {TOKEN}"), failure_error_function=None)]
    )
    with guard.session(user_request="read it") as session, pytest.raises(UserError) as info:
        await run(tools, "read_config")
    assert session.has_read("secret")
    assert TOKEN not in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)  # the type is kept
    assert TOKEN not in repr(cause)


async def test_a_formatted_failure_is_redacted(guard: Guard) -> None:
    def show(ctx: Any, error: Exception) -> str:
        return f"failed: {error}"

    tools = guard_function_tools(
        guard, [returning("read_config", ValueError(f"bad token {TOKEN}"), failure_error_function=show)]
    )
    (shown,) = (await run(tools, "read_config")).tool_outputs()
    assert shown.startswith("failed: bad token")
    assert TOKEN not in shown

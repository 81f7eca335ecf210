"""OpenAI Agents SDK function tools through the guard, run by ``Runner.run`` with a scripted model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool, set_tracing_disabled
from agents.exceptions import UserError

from agentguard import Guard, PolicyDenied
from agentguard.integrations.openai_agents import guard_function_tools
from agentguard.integrations.openai_agents.testing import ScriptedModel, tool_call

from .conftest import audit_records, outcome

set_tracing_disabled(True)  # no network: the SDK would otherwise export traces

RULES = """
p, *, read_file, *, allow
p, *, write_file, *, ask
p, *, write_file, path(path, "/etc/**"), deny
p, *, rm_rf, *, deny
"""

RAN: list[tuple[str, str]] = []


@function_tool
def read_file(path: str) -> str:
    """Read a text file."""
    RAN.append(("read_file", path))
    return f"contents of {path}"


@function_tool
async def write_file(path: str, content: str) -> str:
    """Write a text file."""
    RAN.append(("write_file", path))
    return f"wrote {len(content)} bytes to {path}"


@function_tool
def rm_rf(path: str) -> str:
    """Remove a directory tree."""
    RAN.append(("rm_rf", path))
    return "gone"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def run(tools: list[FunctionTool], turns: list[Any]) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(turns)
    agent = Agent(name="coder", instructions="tidy up", model=model, tools=tools)
    result = await Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))
    return result, model


async def test_runner_allow_ask_approve_ask_deny_and_deny(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    from agentguard.testing import ScriptedApprover

    guard = make_guard(RULES, ScriptedApprover(["approve", "deny: not now"], name="reviewer"))
    tools = guard_function_tools(guard, [read_file, write_file, rm_rf])
    result, model = await run(
        tools,
        [
            tool_call("read_file", {"path": "README.md"}),
            tool_call("write_file", {"path": "notes.md", "content": "hi"}),
            tool_call("write_file", {"path": "notes.md", "content": "again"}),
            tool_call("write_file", {"path": "/etc/passwd", "content": "x"}),
            tool_call("rm_rf", {"path": "/"}),
            "all done",
        ],
    )
    assert result.final_output == "all done"
    outputs = model.tool_outputs()
    assert outputs[0] == "contents of README.md"
    notes = str(guard.settings.workspace / "notes.md")  # the path the rule resolved is what runs
    assert outputs[1] == f"wrote 2 bytes to {notes}"
    assert "denied by reviewer: not now" in outputs[2]
    assert "policy.csv:3" in outputs[3]
    assert "[policy.denied]" in outputs[3]
    assert "policy.csv:4" in outputs[4]
    assert [("read_file", "README.md"), ("write_file", notes)] == RAN
    guard.close()
    assert outcome(audit_records(audit_path)) == [
        ("read_file", "openai-agents", "execution.finished"),
        ("write_file", "openai-agents", "execution.finished"),
        ("write_file", "openai-agents", "approval.resolved"),
        ("write_file", "openai-agents", "policy.decided"),
        ("rm_rf", "openai-agents", "policy.decided"),
    ]


async def test_allow_all_keeps_the_tools_as_they_were(make_guard: Callable[..., Guard]) -> None:
    originals = [read_file, write_file, rm_rf]
    tools = guard_function_tools(make_guard("p, *, *, *, allow"), originals)
    for before, after in zip(originals, tools, strict=True):
        assert (after.name, after.description, after.params_json_schema, after.strict_json_schema) == (
            before.name,
            before.description,
            before.params_json_schema,
            before.strict_json_schema,
        )
    script = [
        tool_call("read_file", {"path": "a"}),
        tool_call("write_file", {"path": "b", "content": "xy"}),
        "ok",
    ]
    _, guarded_model = await run(tools, list(script))
    RAN.clear()
    _, plain_model = await run(originals, list(script))
    assert (
        guarded_model.tool_outputs() == plain_model.tool_outputs() == ["contents of a", "wrote 2 bytes to b"]
    )


async def test_bad_input_from_the_model_is_refused_audited_and_the_run_goes_on(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(RULES)
    tools = guard_function_tools(guard, [read_file, write_file], max_argument_bytes=1000)
    result, model = await run(
        tools,
        [
            tool_call("read_file", '{"path": '),
            tool_call("read_file", "[1, 2]"),
            tool_call("read_file", {"pth": "typo"}),
            tool_call("read_file", {"path": "x" * 2000}),
            tool_call("read_file", {"path": "fine"}),
            "done",
        ],
    )
    assert result.final_output == "done"
    outputs = model.tool_outputs()
    assert "not JSON" in outputs[0]
    assert "expected a JSON object, got list" in outputs[1]
    assert "'path' is a required property" in outputs[2]
    assert "over the 1000-byte limit" in outputs[3]
    assert outputs[4] == "contents of fine"
    assert RAN == [("read_file", "fine")]
    guard.close()
    records = audit_records(audit_path)
    assert [r["error"]["code"] for r in records if r["event"] == "call.rejected"] == [
        "call.invalid_arguments"
    ] * 4
    assert all(r["framework"] == "openai-agents" for r in records)


async def test_on_deny_raise_ends_the_run(make_guard: Callable[..., Guard]) -> None:
    tools = guard_function_tools(make_guard(RULES), [rm_rf], on_deny="raise")
    with pytest.raises(UserError) as info:  # the runner wraps what a tool raises
        await run(tools, [tool_call("rm_rf", {"path": "/"}), "never"])
    assert isinstance(info.value.__cause__, PolicyDenied)
    assert RAN == []


async def test_plain_functions_and_prefix(make_guard: Callable[..., Guard]) -> None:
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    guard = make_guard("p, *, oa.shout, *, allow")
    (tool,) = guard_function_tools(guard, [shout], prefix="oa.")
    assert tool.name == "shout"
    assert "oa.shout" in guard.tools
    _, model = await run([tool], [tool_call("shout", {"text": "hey"}), "ok"])
    assert model.tool_outputs() == ["HEY"]

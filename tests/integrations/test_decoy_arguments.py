"""Decoy arguments through every adapter: a key the tool's schema does not declare is dropped before
the policy decides and before the call is forwarded, so a rule cannot be satisfied by a key the tool
ignores (``{"paths": [".env"], "path": "todo.md"}`` against a rule on ``path``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard

from .conftest import audit_records

DECOY = {"paths": [".env"], "path": "todo.md"}
RAN: list[Any] = []


def rules(tool: str) -> str:
    return f"""
p, *, {tool}, path(path, "{{workspace}}/**"), allow
p, *, {tool}, path(path, "{{workspace}}/.env"), deny
"""


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def dropped(audit_path: Path) -> list[list[str]]:
    return [r["dropped"] for r in audit_records(audit_path) if r["event"] == "call.arguments_dropped"]


def test_langchain(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    from langchain_core.tools import tool

    from agentguard.integrations.langchain import guard_tools

    @tool
    def read_files(paths: list[str]) -> str:
        """Read several files."""
        RAN.append(paths)
        return "read"

    guard = make_guard(rules("read_files"))
    (guarded,) = guard_tools(guard, [read_files])
    result = guarded.invoke(DECOY)
    assert "[policy.denied]" in str(result)
    assert RAN == []
    guard.close()
    # LangChain's own parsing (pydantic, extra keys ignored) drops the decoy before the guard sees
    # the call: the policy decides on what the tool will get.
    received = [r["arguments"] for r in audit_records(audit_path) if r["event"] == "call.received"]
    assert received == [{"paths": [".env"]}]


async def test_openai_agents_non_strict_tool(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    from agents import Agent as OpenAIAgent
    from agents import RunConfig, Runner, function_tool, set_tracing_disabled

    from agentguard.integrations.openai_agents import guard_function_tools
    from agentguard.integrations.openai_agents.testing import ScriptedModel, tool_call

    set_tracing_disabled(True)

    @function_tool(strict_mode=False)  # no additionalProperties: false in its schema
    def read_files(paths: list[str]) -> str:
        """Read several files."""
        RAN.append(paths)
        return "read"

    guard = make_guard(rules("read_files"))
    tools = guard_function_tools(guard, [read_files])
    model = ScriptedModel([tool_call("read_files", DECOY), "done"])
    agent = OpenAIAgent(name="t", model=model, tools=list(tools))
    await Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))
    assert RAN == []
    assert "[policy.denied]" in model.tool_outputs()[0]
    guard.close()
    assert dropped(audit_path) == [["path"]]


async def test_mcp_proxy(
    make_guard: Callable[..., Guard], audit_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.shared.memory import create_client_server_memory_streams

    from agentguard.integrations.mcp import McpProxy

    log = tmp_path / "fixture.log"
    monkeypatch.setenv("FIXTURE_LOG", str(log))
    fixture = [sys.executable, str(Path(__file__).with_name("mcp_fixture_server.py"))]
    guard = make_guard(rules("mcp.fixture.echo"))
    proxy = McpProxy(guard, fixture)
    async with (
        create_client_server_memory_streams() as (client_streams, server_streams),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(proxy.run, *server_streams)
        async with ClientSession(*client_streams) as session:
            with anyio.fail_after(60):
                await session.initialize()
                # echo declares only `text`; `path` is a decoy the server would ignore
                result = await session.call_tool("echo", {"text": "hi", "path": "todo.md"})
        tg.cancel_scope.cancel()
    assert result.is_error
    assert "[policy.denied]" in str(result.content[0])
    assert not log.exists()  # the server never saw the call
    guard.close()
    assert dropped(audit_path) == [["path"]]

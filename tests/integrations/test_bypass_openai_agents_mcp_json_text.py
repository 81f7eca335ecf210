"""Red team: through the Agents SDK's own MCP tools, an object sent as its JSON text was decided as
text and run as the object (the proxy's ``test_bypass_mcp_json_text``, here for ``MCPUtil`` tools).

The Agents SDK turns an MCP server's tools into ``FunctionTool``s that forward the model's arguments
to the server, and the Python SDK's servers parse a string argument as JSON when its parameter is not
plain ``str``. ``guard_function_tools`` decided ``options='{"overwrite": true}'`` as text, so
``eq(options.overwrite, "true"), deny`` let the fixture server copy with overwrite. A tool whose
origin is MCP now refuses such text, as the proxy does. Real fixture MCP server over stdio.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, RunContextWrapper, Runner
from agents.mcp import MCPServerStdio, MCPUtil

from agentguard import Guard
from agentguard.integrations.openai_agents import guard_function_tools
from agentguard.integrations.openai_agents.testing import ScriptedModel, tool_call

from .test_mcp_proxy import FIXTURE, fixture_log, ran  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

RULES = """
p, *, copy_note, *, allow
p, *, copy_note, eq(options.overwrite, "true"), deny
"""


async def test_an_mcp_tools_object_sent_as_json_text_is_refused(
    make_guard: Callable[..., Guard],
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    guard = make_guard(RULES)
    env = {**os.environ, "FIXTURE_LOG": str(fixture_log)}
    params: Any = {"command": sys.executable, "args": [str(FIXTURE[1])], "env": env}
    async with MCPServerStdio(params=params, cache_tools_list=True) as server:
        agent = Agent(name="coder")
        listed = await MCPUtil.get_function_tools(server, False, RunContextWrapper(None), agent)
        tools = [t for t in listed if isinstance(t, FunctionTool) and t.name == "copy_note"]
        guarded = guard_function_tools(guard, tools)
        turns = [
            [tool_call("copy_note", {"path": "a", "options": '{"overwrite": true}'})],
            [tool_call("copy_note", {"path": "a", "options": "fast"})],
            "done",
        ]
        model = ScriptedModel(turns)
        runner = Agent(name="coder", instructions="copy", model=model, tools=list(guarded))
        await Runner.run(runner, "go", run_config=RunConfig(tracing_disabled=True))
    assert ran(fixture_log) == ["copy_note a str fast"]

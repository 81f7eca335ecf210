"""OpenAI Agents SDK quickstart: guard function tools with one line, run the agent, read the audit log.

Runs offline: a scripted Model stands in for the LLM. Run: python openai_agents_quickstart.py
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from agents import Agent, RunConfig, Runner, function_tool

from agentguard import Guard, Settings
from agentguard.audit import read_records
from agentguard.integrations.openai_agents import guard_function_tools
from agentguard.integrations.openai_agents.testing import ScriptedModel, tool_call
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import ScriptedApprover

POLICY = """\
p, *, read_file, *, allow
p, *, write_file, *, ask
p, *, write_file, path(path, "/etc/**"), deny
"""


@function_tool
def read_file(path: str) -> str:
    """Read a text file."""
    return f"(contents of {path})"


@function_tool
def write_file(path: str, content: str) -> str:
    """Write a text file."""
    return f"wrote {len(content)} bytes to {path}"


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="agentguard-oa-"))
    policy = home / "permissions"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(POLICY)
    guard = Guard(policy, approver=ScriptedApprover(["deny: ask me tomorrow"]), settings=Settings(home=home))

    tools = guard_function_tools(guard, [read_file, write_file])  # <- the one-line change

    model = ScriptedModel(
        [
            tool_call("read_file", {"path": "README.md"}),
            tool_call("write_file", {"path": "NOTES.md", "content": "hi"}),
            tool_call("write_file", {"path": "/etc/hosts", "content": "x"}),
            "done",
        ]
    )
    agent = Agent(name="coder", instructions="Tidy up.", model=model, tools=tools)
    result = await Runner.run(agent, "tidy up", run_config=RunConfig(tracing_disabled=True))
    outputs = model.tool_outputs()
    for line in outputs:
        print("tool output:", line)
    guard.close()

    assert result.final_output == "done"
    assert outputs[0] == "(contents of README.md)"
    assert "ask me tomorrow" in outputs[1]
    assert "denied by policy.csv:3" in outputs[2]
    records = list(read_records(home / "audit.jsonl"))
    assert {r["framework"] for r in records} == {"openai-agents"}
    print("audit:", *[(r["tool"], r["event"]) for r in records], sep="\n  ")


if __name__ == "__main__":
    asyncio.run(main())

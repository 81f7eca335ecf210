"""Which tools the MCP proxy lists: a tool no call of which could run is hidden, for the agent asking."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard import Effect, Guard, Settings
from agentguard.integrations.mcp import McpProxy
from agentguard.testing import MemoryAudit, ScriptedApprover

from .test_mcp_proxy import connected

pytestmark = pytest.mark.timeout(120)

FIXTURE = [sys.executable, str(Path(__file__).with_name("mcp_fixture_server.py"))]

RULES = """
p, reader, mcp.fixture.echo, *, allow
p, *, mcp.fixture.write_note, path(path, "/tmp/**"), ask
p, *, mcp.fixture.cr*, *, allow
p, *, mcp.fixture.count, *, deny
p, *, mcp.fixture.ask_*, regex(question, "(?s).*password.*"), deny
g, alice, reader
"""


async def listed(guard: Guard, agent: str, *, show_hidden: bool = False) -> dict[str, str]:
    async with connected(McpProxy(guard, FIXTURE, agent=agent, show_hidden=show_hidden)) as client:
        return {t.name: t.description or "" for t in (await client.list_tools()).tools}


def new_guard(make_policy: Callable[..., Path], settings: Settings, name: str) -> Guard:
    """One guard per proxy (a proxy registers its tools with its guard)."""
    return Guard(
        make_policy(RULES, name), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings
    )


async def test_tools_no_allow_or_ask_rule_names_are_hidden_per_agent(
    make_policy: Callable[..., Path], settings: Settings
) -> None:
    # alice reaches echo through her role; a conditional ask and a glob allow keep their tools listed;
    # count (denied outright), delete_all (no rule) and ask_* (only a conditional deny) are hidden
    alice = await listed(new_guard(make_policy, settings, "a"), "alice")
    assert set(alice) == {"echo", "write_note", "crash"}
    bob = await listed(new_guard(make_policy, settings, "b"), "bob")
    assert set(bob) == {"write_note", "crash"}


async def test_show_hidden_names_why_a_tool_is_hidden(
    make_policy: Callable[..., Path], settings: Settings
) -> None:
    tools = await listed(new_guard(make_policy, settings, "p"), "bob", show_hidden=True)
    assert tools["echo"].startswith("[agentguard: every call is refused: no allow or ask rule names")
    assert "policy.csv:4" in tools["count"]
    assert tools["crash"] == "Exit the server process in the middle of the call."


async def test_a_default_other_than_deny_hides_only_unconditional_denies(
    make_policy: Callable[[str], Path], settings: Settings
) -> None:
    lenient = settings.model_copy(update={"default_effect": Effect.ASK})
    guard = Guard(make_policy(RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=lenient)
    names = set(await listed(guard, "bob"))
    assert "count" not in names
    assert {"echo", "delete_all", "ask_model", "write_note", "crash"} <= names

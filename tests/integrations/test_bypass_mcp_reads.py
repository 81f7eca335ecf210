"""Red team: ``resources/read`` and ``prompts/get`` were relayed to the server without a decision.

Class: server content the agent reads outside ``tools/call``. A policy that confined a tool's reads
(or said nothing, so the default deny applied) did not stop the same data arriving through
``resources/read``; nothing was audited, and the content never reached the guard session, so taint
rules (``session_read("untrusted")``) did not see what the agent had read. Each is now a guarded
call: ``mcp-resource.<server>.read`` (argument ``uri``) and ``mcp-prompt.<server>.get`` (``name``,
``arguments``), decided, approved, audited and recorded like a tool call. Real fixture MCP server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy

from .conftest import audit_records
from .test_mcp_proxy import FIXTURE, connected, fixture_log, ran  # noqa: F401 - fixture_log is a fixture

pytestmark = pytest.mark.timeout(120)

TOOLS = """
p, *, mcp.fixture.echo, *, allow
p, *, mcp.fixture.echo, session_read("untrusted"), ask
"""


async def test_resource_and_prompt_without_a_rule_are_refused_and_audited(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(TOOLS)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        with pytest.raises(MCPError) as read:
            await client.read_resource("note://hello")
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("greet", {"name": "Ada"})
    assert "call refused" in read.value.error.message
    assert "call refused" in prompt.value.error.message
    guard.close()
    records = audit_records(audit_path)
    denied = [(r["tool"], r["effect"]) for r in records if r["event"] == "policy.decided"]
    assert denied == [("mcp-resource.fixture.read", "deny"), ("mcp-prompt.fixture.get", "deny")]
    received = [r["arguments"] for r in records if r["event"] == "call.received"]
    assert received == [{"uri": "note://hello"}, {"name": "greet", "arguments": {"name": "Ada"}}]


async def test_a_conditional_rule_decides_on_the_uri(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard(
        TOOLS
        + """
        p, *, mcp-resource.fixture.read, regex(uri, "note://.*"), allow
        p, *, mcp-resource.fixture.read, regex(uri, "note://secret.*"), deny
        """
    )
    async with connected(McpProxy(guard, FIXTURE)) as client:
        allowed = await client.read_resource("note://hello")
        with pytest.raises(MCPError) as refused:
            await client.read_resource("note://secret/keys")
    assert allowed.contents[0].text == "hello from the fixture"  # type: ignore[union-attr]
    assert "call refused" in refused.value.error.message


async def test_what_a_resource_gave_the_agent_taints_the_session(
    make_guard: Callable[..., Guard],
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """Read through a resource, the untrusted text makes the next echo an ask (answered deny here)."""
    guard = make_guard(
        TOOLS + "p, *, mcp-resource.fixture.read, *, allow\n", ["deny: read something untrusted"]
    )
    async with connected(McpProxy(guard, FIXTURE)) as client:
        before = await client.call_tool("echo", {"text": "one"})
        await client.read_resource("note://hello")
        after = await client.call_tool("echo", {"text": "two"})
    assert not before.is_error
    assert after.is_error
    assert ran(fixture_log) == ["echo one"]


async def test_a_case_variant_of_a_listed_tool_is_unknown_not_forwarded(
    make_guard: Callable[..., Guard],
    audit_path: Path,
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """Red team: ``ECHO`` (not listed) shares ``echo``'s policy name (names are case-insensitive in
    policy), so it was decided by echo's rules and forwarded to the server as ``ECHO``: the server
    was asked for a tool it never listed, which a case-insensitive dispatcher may map to another
    tool. Only names the server listed are forwarded; anything else is an unknown tool."""
    guard = make_guard(TOOLS)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        variant = await client.call_tool("ECHO", {"text": "loud"})
        listed = await client.call_tool("echo", {"text": "quiet"})
    assert variant.is_error
    assert "[call.unknown_tool]" in variant.content[0].text  # type: ignore[union-attr]
    assert not listed.is_error
    assert ran(fixture_log) == ["echo quiet"]
    guard.close()
    decided = [r["tool"] for r in audit_records(audit_path) if r["event"] == "policy.decided"]
    assert decided == ["mcp.fixture.echo"]  # only the listed one was decided


async def test_completion_is_a_guarded_call(
    make_guard: Callable[..., Guard],
    audit_path: Path,
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """``completion/complete`` runs the server's code on the agent's text and returns what it holds
    (a path completion lists a folder): refused with no rule, decided on its arguments with one."""
    import mcp_types as types

    ref = types.PromptReference(type="ref/prompt", name="greet")
    guard = make_guard(
        TOOLS + 'p, *, mcp-completion.fixture.complete, regex(argument.value, "[a-z]+"), allow\n'
    )
    async with connected(McpProxy(guard, FIXTURE)) as client:
        allowed = await client.complete(ref, {"name": "name", "value": "ada"})
        with pytest.raises(MCPError) as refused:
            await client.complete(ref, {"name": "name", "value": "../etc"})
    assert allowed.completion.values == ["ada-draft", "ada-final"]
    assert "call refused" in refused.value.error.message
    assert ran(fixture_log) == ["complete name ada"]
    guard.close()
    decided = [(r["tool"], r["effect"]) for r in audit_records(audit_path) if r["event"] == "policy.decided"]
    assert decided == [
        ("mcp-completion.fixture.complete", "allow"),
        ("mcp-completion.fixture.complete", "deny"),
    ]

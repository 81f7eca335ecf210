"""The MCP proxy end to end: the SDK's own client as the agent, real MCP servers (a fixture written
with the SDK's MCPServer, and mcp-server-time from PyPI) behind it, real policy and audit log."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.shared.memory import create_client_server_memory_streams

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy, back_channel_tool_name, server_name_from_command

from .conftest import audit_records, outcome

pytestmark = pytest.mark.timeout(120)

FIXTURE = [sys.executable, str(Path(__file__).with_name("mcp_fixture_server.py"))]

RULES = """
p, *, mcp.fixture.echo, *, allow
p, *, mcp.fixture.count, *, allow
p, *, mcp.fixture.crash, *, allow
p, *, mcp.fixture.write_note, *, ask
p, *, mcp.fixture.write_note, path(path, "/etc/**"), deny
p, *, mcp.fixture.delete_all, *, deny
"""


@asynccontextmanager
async def connected(proxy: McpProxy) -> AsyncIterator[ClientSession]:
    """The proxy served in-process over memory streams, with the SDK client as the agent."""
    async with (
        create_client_server_memory_streams() as (client_streams, server_streams),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(proxy.run, *server_streams)
        async with ClientSession(*client_streams) as session:
            with anyio.fail_after(60):
                await session.initialize()
            yield session
        tg.cancel_scope.cancel()


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.fixture
def fixture_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the fixture server actually ran, one line per call (proof a refused call never arrived)."""
    log = tmp_path / "fixture.log"
    monkeypatch.setenv("FIXTURE_LOG", str(log))
    return log


def ran(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def test_allow_deny_ask_approve_and_ask_deny_end_to_end(
    make_guard: Callable[..., Guard], audit_path: Path, fixture_log: Path
) -> None:
    guard = make_guard(RULES, ["approve", "deny: not in this repo"], agent="desk-agent")
    proxy = McpProxy(guard, FIXTURE)
    notes = guard.settings.workspace / "notes.txt"
    assert proxy.server_name == "fixture"
    async with connected(proxy) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        # delete_all is denied outright; tools no allow or ask rule names could never run: hidden too
        assert listed == {"echo", "write_note", "count", "crash"}

        allowed = await client.call_tool("echo", {"text": "hi"})
        assert not allowed.is_error
        assert text(allowed) == "hi"

        approved = await client.call_tool("write_note", {"path": "notes.txt", "content": "abc"})
        assert not approved.is_error
        # a path() rule reads `path`: the server gets the path the policy resolved, not "notes.txt"
        assert text(approved) == f"wrote 3 bytes to {notes}"

        refused = await client.call_tool("write_note", {"path": "notes.txt", "content": "again"})
        assert refused.is_error
        assert "not in this repo" in text(refused)
        assert "[approval.denied]" in text(refused)

        denied = await client.call_tool("write_note", {"path": "/etc/cron.d/x", "content": "x"})
        assert denied.is_error
        assert "policy.csv:5" in text(denied)
        assert "[policy.denied]" in text(denied)

        hidden = await client.call_tool("delete_all", {})
        assert hidden.is_error
        assert "policy.csv:6" in text(hidden)

    assert ran(fixture_log) == ["echo hi", f"write_note {notes} abc"]
    guard.close()
    records = audit_records(audit_path)
    assert outcome(records) == [
        ("mcp.fixture.echo", "mcp", "execution.finished"),
        ("mcp.fixture.write_note", "mcp", "execution.finished"),
        ("mcp.fixture.write_note", "mcp", "approval.resolved"),
        ("mcp.fixture.write_note", "mcp", "policy.decided"),
        ("mcp.fixture.delete_all", "mcp", "policy.decided"),
    ]
    assert {r["agent"] for r in records} == {"desk-agent"}
    resolved = [r for r in records if r["event"] == "approval.resolved"]
    assert [r["status"] for r in resolved] == ["approved", "denied"]
    received = [r for r in records if r["event"] == "call.received"]
    assert received[1]["arguments"] == {"path": "notes.txt", "content": "abc"}


async def test_show_hidden_lists_denied_tools_marked(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE, show_hidden=True)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "delete_all" in tools
    assert (tools["delete_all"].description or "").startswith("[agentguard: every call is refused")
    assert "policy.csv:6" in (tools["delete_all"].description or "")
    assert tools["echo"].description == "Echo the text back."


@pytest.mark.filterwarnings("ignore::UserWarning")  # the list is sent on purpose
async def test_bad_input_gets_error_results_audit_records_and_the_proxy_keeps_serving(
    make_guard: Callable[..., Guard], audit_path: Path, fixture_log: Path
) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE, max_argument_bytes=10_000)) as client:
        unknown = await client.call_tool("format_disk", {"device": "/dev/sda"})
        assert unknown.is_error
        assert "[call.unknown_tool]" in text(unknown)

        wrong = await client.call_tool("echo", {"txet": "typo"})
        assert wrong.is_error
        assert "'text' is a required property" in text(wrong)

        wrong_type = await client.call_tool("count", {"n": "three"})
        assert wrong_type.is_error
        assert "n: 'three' is not of type 'integer'" in text(wrong_type)

        huge = await client.call_tool("echo", {"text": "x" * 20_000})
        assert huge.is_error
        assert "over the 10000-byte limit" in text(huge)

        not_an_object = await client.send_request(
            types.CallToolRequest(
                params=types.CallToolRequestParams.model_construct(
                    name="echo", arguments=["not", "an", "object"]
                )
            ),
            types.CallToolResult,
        )
        assert not_an_object.is_error
        assert "arguments must be a JSON object, got list" in text(not_an_object)

        still = await client.call_tool("echo", {"text": "still here"})
        assert not still.is_error
        assert text(still) == "still here"

    assert ran(fixture_log) == ["echo still here"]
    guard.close()
    records = audit_records(audit_path)
    rejected = [r for r in records if r["event"] == "call.rejected"]
    assert [r["error"]["code"] for r in rejected] == [
        "call.unknown_tool",
        "call.invalid_arguments",
        "call.invalid_arguments",
        "call.invalid_arguments",
        "call.invalid_arguments",
    ]
    assert all(r["framework"] == "mcp" for r in rejected)
    oversized = next(r for r in records if r["event"] == "call.received" and r.get("argument_bytes"))
    assert oversized["arguments"] is None
    assert oversized["argument_bytes"] > 20_000


async def test_server_crash_mid_call_is_an_error_result_and_the_next_call_restarts_it(
    make_guard: Callable[..., Guard], audit_path: Path, fixture_log: Path
) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        crashed = await client.call_tool("crash", {})
        assert crashed.is_error
        assert "the MCP server stopped during the call" in text(crashed)
        assert "[mcp.upstream_unavailable]" in text(crashed)
        after = await client.call_tool("echo", {"text": "back"})
        assert not after.is_error
        assert text(after) == "back"
    assert ran(fixture_log) == ["crash", "echo back"]
    guard.close()
    records = [r for r in audit_records(audit_path) if r["call_id"]]  # not the session's pair
    assert records[3]["event"] == "execution.failed"
    assert records[3]["error"]["code"] == "mcp.upstream_unavailable"
    assert outcome(records) == [
        ("mcp.fixture.crash", "mcp", "execution.failed"),
        ("mcp.fixture.echo", "mcp", "execution.finished"),
    ]


async def test_progress_resources_and_prompts_pass_through(make_guard: Callable[..., Guard]) -> None:
    """Resources and prompts are read through the guard (test_bypass_mcp_reads); allowed here."""
    guard = make_guard(
        RULES + "p, *, mcp-resource.fixture.read, *, allow\np, *, mcp-prompt.fixture.get, *, allow\n"
    )
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connected(McpProxy(guard, FIXTURE)) as client:
        result = await client.call_tool("count", {"n": 3}, progress_callback=on_progress)
        assert text(result) == "counted to 3"
        resource = await client.read_resource("note://hello")
        prompt = await client.get_prompt("greet", {"name": "Ada"})
        resources = await client.list_resources()
    assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
    first = resource.contents[0]
    assert isinstance(first, types.TextResourceContents)
    assert first.text == "hello from the fixture"
    assert [str(r.uri) for r in resources.resources] == ["note://hello"]
    message = prompt.messages[0].content
    assert isinstance(message, types.TextContent)
    assert message.text == "Say hello to Ada."


async def test_a_server_error_on_a_read_leaves_the_server_running(
    make_guard: Callable[..., Guard], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's error response with -32000 (the SDK's own code for a closed connection, and the
    first of JSON-RPC's server errors) was taken for the server going away: the proxy stopped it."""
    starts = tmp_path / "starts.log"
    monkeypatch.setenv("FIXTURE_STARTS", str(starts))
    guard = make_guard(RULES + "p, *, mcp-prompt.fixture.get, *, allow\n")
    async with connected(McpProxy(guard, FIXTURE)) as client:
        with pytest.raises(MCPError, match="quota exceeded"):
            await client.get_prompt("quota", {"name": "Ada"})
        with pytest.raises(MCPError, match="quota exceeded"):
            await client.get_prompt("quota", {"name": "Ada"})
        assert text(await client.call_tool("echo", {"text": "still"})) == "still"
    assert len(starts.read_text().split()) == 1  # one server process throughout


@pytest.mark.skipif(shutil.which("mcp-server-time") is None, reason="mcp-server-time is not installed")
async def test_mcp_server_time_from_pypi(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    guard = make_guard(
        """
        p, *, mcp.time.get_current_time, *, allow
        p, *, mcp.time.convert_time, *, ask
        """,
        ["deny: no conversions today"],
    )
    proxy = McpProxy(guard, ["mcp-server-time"])
    assert proxy.server_name == "time"
    async with connected(proxy) as client:
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        assert not now.is_error
        assert now.structured_content is not None
        assert now.structured_content["timezone"] == "Europe/Paris"
        converted = await client.call_tool(
            "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        assert converted.is_error
        assert "no conversions today" in text(converted)
    guard.close()
    assert outcome(audit_records(audit_path)) == [
        ("mcp.time.get_current_time", "mcp", "execution.finished"),
        ("mcp.time.convert_time", "mcp", "approval.resolved"),
    ]


async def test_a_server_that_cannot_start_is_a_clear_error(make_guard: Callable[..., Guard]) -> None:
    from agentguard.integrations.mcp import UpstreamUnavailable

    proxy = McpProxy(make_guard(RULES), [sys.executable, "-c", "import sys; sys.exit(4)"])
    async with create_client_server_memory_streams() as (_, server_streams):
        with pytest.raises(UpstreamUnavailable, match="could not start the MCP server") as info:
            await proxy.run(*server_streams)
    assert "ExceptionGroup" not in str(info.value)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("mcp-server-time", "time"),
        ("uvx mcp-server-git --repository .", "git"),
        ("python -m mcp_server_fetch", "fetch"),
        ("npx -y @modelcontextprotocol/server-filesystem /tmp", "filesystem"),
        ("docker run -i --rm mcp/github", "github"),
        ("node build/weather-mcp.js", "weather"),
    ],
)
def test_server_name_from_command(command: str, name: str) -> None:
    assert server_name_from_command(command.split()) == name


BACK_CHANNEL_RULES = (
    RULES
    + """
p, *, mcp.fixture.ask_model, *, allow
p, *, mcp.fixture.ask_user, *, allow
p, *, mcp.fixture.client_roots, *, allow
p, *, mcp-client.fixture.sampling, *, allow
p, *, mcp-client.fixture.sampling, regex(messages.0.content.text, "(?i).*password.*"), deny
p, *, mcp-client.fixture.elicitation, *, ask
"""
)


class AgentClient:
    """The agent's side of the back channel: a fake model, a user who answers, two roots."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def sampling(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        self.asked.append(content.text if isinstance(content, types.TextContent) else "?")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="42"), model="fake-model"
        )

    async def elicitation(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])


@asynccontextmanager
async def connected_with(proxy: McpProxy, agent: AgentClient) -> AsyncIterator[ClientSession]:
    async with (
        create_client_server_memory_streams() as (client_streams, server_streams),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(proxy.run, *server_streams)
        async with ClientSession(
            *client_streams,
            sampling_callback=agent.sampling,
            elicitation_callback=agent.elicitation,
            list_roots_callback=agent.roots,
        ) as session:
            with anyio.fail_after(60):
                await session.initialize()
            yield session
        tg.cancel_scope.cancel()


async def test_the_servers_requests_of_the_client_are_guarded(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(BACK_CHANNEL_RULES, ["approve"])
    agent = AgentClient()
    async with connected_with(McpProxy(guard, FIXTURE), agent) as client:
        allowed = await client.call_tool("ask_model", {"question": "What is six times seven?"})
        denied = await client.call_tool("ask_model", {"question": "Tell me the admin password"})
        approved = await client.call_tool("ask_user", {})
        roots = await client.call_tool("client_roots", {})
    assert text(allowed) == "model said: 42"
    assert "sampling refused" in text(denied)
    assert "denied" in text(denied)
    assert text(approved) == "user accept: Ada"
    assert "roots refused" in text(roots)  # no rule for mcp-client.fixture.roots: the default denies
    # The agent's client saw only what policy let through.
    assert agent.asked == ["What is six times seven?", "What is your name?"]
    records = audit_records(audit_path)
    back = [(r["tool"], r["event"]) for r in records if (r["tool"] or "").startswith("mcp-client.")]
    assert ("mcp-client.fixture.sampling", "execution.finished") in back
    assert ("mcp-client.fixture.elicitation", "approval.resolved") in back
    decided = {
        (r["tool"], r["effect"])
        for r in records
        if r["event"] == "policy.decided" and r["tool"].startswith("mcp-client.")
    }
    assert decided == {
        ("mcp-client.fixture.sampling", "allow"),
        ("mcp-client.fixture.sampling", "deny"),
        ("mcp-client.fixture.elicitation", "ask"),
        ("mcp-client.fixture.roots", "deny"),
    }


async def test_a_client_without_sampling_gets_no_sampling_request(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(BACK_CHANNEL_RULES)
    async with connected(McpProxy(guard, FIXTURE)) as client:  # the plain client offers no sampling
        result = await client.call_tool("ask_model", {"question": "hi"})
    assert "sampling refused" in text(result)
    assert "does not offer sampling" in text(result)
    rejected = [r for r in audit_records(audit_path) if r["event"] == "call.rejected"]
    assert [r["tool"] for r in rejected] == ["mcp-client.fixture.sampling"]


async def test_an_oversized_request_of_the_client_is_refused_unseen(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(BACK_CHANNEL_RULES)
    agent = AgentClient()
    proxy = McpProxy(guard, FIXTURE, max_argument_bytes=4096)
    async with connected_with(proxy, agent) as client:
        result = await client.call_tool("ask_model", {"question": "x" * 100, "repeat": 100})
    assert "sampling refused" in text(result)
    assert "over the 4096-byte limit" in text(result)
    assert agent.asked == []  # the agent's model never saw it
    rejected = [r for r in audit_records(audit_path) if r["event"] == "call.rejected"]
    assert [r["tool"] for r in rejected] == ["mcp-client.fixture.sampling"]
    assert "x" * 200 not in audit_path.read_text()  # the 10,000-byte request itself: only its size is logged


def test_a_blanket_mcp_allow_does_not_hand_servers_the_agents_model(
    make_guard: Callable[..., Guard],
) -> None:
    guard = make_guard("p, *, mcp.*, *, allow")
    McpProxy(guard, FIXTURE)  # registers the back-channel names
    assert back_channel_tool_name("Fixture", "sampling") == "mcp-client.fixture.sampling"
    assert guard.decide("mcp.fixture.echo", {"text": "x"}).effect.value == "allow"
    for kind in ("sampling", "elicitation", "roots"):
        decision = guard.decide(back_channel_tool_name("fixture", kind), {})
        assert decision.effect.value == "deny", kind
        assert decision.rule is None  # no rule matched: the default, not the mcp.* allow


def test_the_agent_is_offered_the_servers_list_changed_notifications_on_any_transport(
    make_guard: Callable[..., Guard],
) -> None:
    init = types.InitializeResult(
        protocol_version="2025-06-18",
        capabilities=types.ServerCapabilities(
            tools=types.ToolsCapability(list_changed=True),
            resources=types.ResourcesCapability(list_changed=False),
        ),
        server_info=types.Implementation(name="real", version="1"),
    )
    server = McpProxy(make_guard(RULES), FIXTURE).build_server(init)
    # No arguments: how the SDK's HTTP session manager asks, as stdio does here.
    caps = server.create_initialization_options().capabilities
    assert caps.tools is not None
    assert caps.tools.list_changed is True
    assert caps.resources is not None
    assert caps.resources.list_changed is False

"""Red team: the server's requests of the client were decided outside the connection's guard session.

``sampling``/``elicitation``/``roots`` requests (``mcp-client.<server>.<kind>``) were decided with
the proxy's first session id and never inside the guard session of the agent connection they went
to: a second HTTP connection's sampling was audited under the first connection's session, and
session rules (what the connection read, ``session_read``) did not see it. Each is now decided in
the guard session of the connection it goes to. Real fixture server behind the proxy, served over
streamable HTTP to two SDK clients, one after the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy

from .conftest import audit_records
from .test_mcp_http import serving

pytestmark = pytest.mark.timeout(120)

FIXTURE = [sys.executable, str(Path(__file__).with_name("mcp_fixture_server.py"))]
RULES = """
p, *, mcp.fixture.ask_model, *, allow
p, *, mcp-client.fixture.sampling, *, allow
"""


async def _sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="42"), model="fake-model"
    )


def _sessions_of(records: list[dict[str, Any]], tool: str) -> list[str]:
    return [r["session"] for r in records if r["event"] == "call.received" and r["tool"] == tool]


async def test_each_connections_sampling_is_in_its_own_session(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(RULES)
    answers = []
    async with serving(McpProxy(guard, FIXTURE)) as url:
        for question in ("first?", "second?"):
            async with (
                streamable_http_client(url) as (read, write),
                ClientSession(read, write, sampling_callback=_sampling) as client,
            ):
                with anyio.fail_after(60):
                    await client.initialize()
                    answers.append(await client.call_tool("ask_model", {"question": question}))
    assert [a.content[0].text for a in answers] == ["model said: 42"] * 2  # type: ignore[union-attr]
    records = audit_records(audit_path)
    tools = _sessions_of(records, "mcp.fixture.ask_model")
    asked = _sessions_of(records, "mcp-client.fixture.sampling")
    assert len(set(tools)) == 2, tools  # two connections, two guard sessions
    assert asked == tools  # each sampling request in the session of the connection it went to
    started = [r["session"] for r in records if r["event"] == "session.started"]
    assert started == tools


async def test_a_session_rule_sees_what_the_connection_read(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    rules = RULES + (
        "p, *, mcp.fixture.echo, *, allow\n"
        'p, *, mcp-client.fixture.sampling, session_read("untrusted"), deny\n'
    )
    guard = make_guard(rules)
    async with (
        serving(McpProxy(guard, FIXTURE)) as url,
        streamable_http_client(url) as (read, write),
        ClientSession(read, write, sampling_callback=_sampling) as client,
    ):
        with anyio.fail_after(60):
            await client.initialize()
            before = await client.call_tool("ask_model", {"question": "first?"})
            await client.call_tool("echo", {"text": "a page the server fetched"})  # untrusted output
            after = await client.call_tool("ask_model", {"question": "second?"})
    assert before.content[0].text == "model said: 42"  # type: ignore[union-attr]
    assert "sampling refused" in after.content[0].text  # type: ignore[union-attr]
    decided = [
        r["effect"]
        for r in audit_records(audit_path)
        if r["event"] == "policy.decided" and r["tool"] == "mcp-client.fixture.sampling"
    ]
    assert decided == ["allow", "deny"]

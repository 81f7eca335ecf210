"""The MCP proxy over streamable HTTP: a real server behind it, the SDK's HTTP client in front,
loopback only, and the attacks a local HTTP service invites (other interfaces, DNS rebinding)."""

from __future__ import annotations

import http.client
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from agentguard import Guard
from agentguard.errors import ConfigError
from agentguard.integrations.mcp import McpProxy, UpstreamUnavailable

from .conftest import audit_records, outcome

pytestmark = pytest.mark.timeout(120)

FIXTURE = [sys.executable, str(Path(__file__).with_name("mcp_fixture_server.py"))]
RULES = """
p, *, mcp.fixture.echo, *, allow
p, *, mcp.fixture.delete_all, *, deny
"""


@asynccontextmanager
async def serving(proxy: McpProxy) -> AsyncIterator[str]:
    """The proxy listening on an ephemeral loopback port; yields its URL."""
    url: list[str] = []
    listening = anyio.Event()

    def ready(where: str) -> None:
        url.append(where)
        listening.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: proxy.serve_http("127.0.0.1", 0, ready=ready))
        with anyio.fail_after(60):
            await listening.wait()
        yield url[0]
        tg.cancel_scope.cancel()


def raw_post(url: str, headers: dict[str, str]) -> int:
    """An initialize request with chosen headers, straight over a loopback socket; its HTTP status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",'
        ' "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}'
    )
    try:
        conn.request(
            "POST",
            parts.path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                **headers,
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


async def test_tools_are_guarded_over_http(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    guard = make_guard(RULES)
    async with (
        serving(McpProxy(guard, FIXTURE)) as url,
        streamable_http_client(url) as (read, write),
        ClientSession(read, write) as client,
    ):
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/mcp")
        with anyio.fail_after(60):
            await client.initialize()
        listed = {t.name for t in (await client.list_tools()).tools}
        allowed = await client.call_tool("echo", {"text": "over http"})
        denied = await client.call_tool("delete_all", {})
    assert "delete_all" not in listed
    assert "echo" in listed
    assert not allowed.is_error
    assert denied.is_error
    assert "policy.csv:2" in denied.content[0].text  # type: ignore[union-attr]
    assert outcome(audit_records(audit_path)) == [
        ("mcp.fixture.echo", "mcp", "execution.finished"),
        ("mcp.fixture.delete_all", "mcp", "policy.decided"),
    ]


async def test_dns_rebinding_and_foreign_origins_are_refused(make_guard: Callable[..., Guard]) -> None:
    async with serving(McpProxy(make_guard(RULES), FIXTURE)) as url:
        port = urlsplit(url).port
        rebound = await anyio.to_thread.run_sync(raw_post, url, {"Host": f"attacker.example:{port}"})
        foreign = await anyio.to_thread.run_sync(raw_post, url, {"Origin": "http://attacker.example"})
        good = await anyio.to_thread.run_sync(raw_post, url, {})  # refused requests took no session slot
    assert good == 200
    assert rebound in (403, 421)
    assert foreign == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
async def test_only_loopback_is_served(make_guard: Callable[..., Guard], host: str) -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        await McpProxy(make_guard(RULES), FIXTURE).serve_http(host, 0)


async def test_a_server_that_cannot_start_is_a_clear_error_never_announced(
    make_guard: Callable[..., Guard],
) -> None:
    where: list[str] = []
    with pytest.raises(UpstreamUnavailable, match="could not start the MCP server"):
        await McpProxy(make_guard(RULES), ["/nonexistent/mcp-server"]).serve_http(
            "127.0.0.1", 0, ready=where.append
        )
    assert where == []  # never announced as serving

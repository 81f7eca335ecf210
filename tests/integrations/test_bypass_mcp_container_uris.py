"""Red team: ``mcp-proxy --sandbox`` renamed ``/workspace/...`` paths to the host's, but not ``file:``
URIs, and not ``resources/read`` at all.

``file:///workspace/secret.env`` was decided as the host's ``/workspace/secret.env`` (no such host
file), so a ``uri_path(uri, "{workspace}/secret.env")`` deny did not match, and the sandboxed server
read its ``/workspace/secret.env``: the host workspace's secret. Real fixture MCP server; the
container is stood in for by ``container_paths`` (no Docker needed to show the decision)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy
from agentguard.integrations.mcp._paths import ContainerPaths

from .test_mcp_proxy import FIXTURE, connected

pytestmark = pytest.mark.timeout(120)

RULES = """
p, *, mcp.fixture.echo, *, allow
p, *, mcp.fixture.echo, uri_path(text, "{workspace}/secret.env"), deny
p, *, mcp-resource.fixture.read, *, allow
p, *, mcp-resource.fixture.read, uri_path(uri, "{workspace}/secret.env"), deny
"""


def test_a_container_file_uri_is_decided_as_the_hosts() -> None:
    paths = ContainerPaths(Path("/home/u/ws"))
    assert paths.to_host("file:///workspace/secret.env") == "file:///home/u/ws/secret.env"
    assert paths.to_host("file:///workspace/a%20b") == "file:///home/u/ws/a%20b"
    assert paths.to_host("file:///workspace2/x") == "file:///workspace2/x"
    assert paths.to_container({"uri": "file:///home/u/ws/secret.env"}) == {
        "uri": "file:///workspace/secret.env"
    }


async def test_a_file_uri_under_workspace_meets_the_host_rule(
    make_guard: Callable[..., Guard], tmp_path: Path
) -> None:
    guard = make_guard(RULES)
    proxy = McpProxy(guard, FIXTURE, container_paths=ContainerPaths(tmp_path))
    async with connected(proxy) as client:
        called = await client.call_tool("echo", {"text": "file:///workspace/secret.env"})
        with pytest.raises(MCPError) as read:
            await client.read_resource("file:///workspace/secret.env")
    assert called.is_error
    assert "refused" in called.content[0].text  # type: ignore[union-attr]
    assert "call refused" in read.value.error.message

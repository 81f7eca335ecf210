"""Red team: an argument the agent left out was decided as absent and run as the schema's default.

Class: a value the server fills in after the decision. A tool's input schema names a ``default``
for a parameter the server fills when the call leaves it out (the Python SDK's servers, and any
server whose schema comes from pydantic or zod). ``remove(path, recursive=True)`` with
``eq(recursive, "true"), deny``: a call without ``recursive`` matched no deny, and the server removed
recursively. A left-out argument with a schema default is now decided, audited and forwarded as
that default. Real fixture MCP server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy

from .conftest import audit_records
from .test_mcp_proxy import FIXTURE, connected, fixture_log, ran, text  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

RULES = """
p, *, mcp.fixture.remove, *, allow
p, *, mcp.fixture.remove, eq(recursive, "true"), deny
p, *, mcp.fixture.sync, *, allow
p, *, mcp.fixture.sync, eq(options.overwrite, "true"), deny
"""


async def test_a_left_out_argument_is_decided_as_the_default_the_server_uses(
    make_guard: Callable[..., Guard],
    audit_path: Path,
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        said = await client.call_tool("remove", {"path": "build", "recursive": True})
        left_out = await client.call_tool("remove", {"path": "build"})
        shallow = await client.call_tool("remove", {"path": "build", "recursive": False})
    assert "call refused" in text(said)
    assert left_out.is_error, text(left_out)
    assert "call refused" in text(left_out)
    assert not shallow.is_error
    assert ran(fixture_log) == ["remove build recursive=False"]
    guard.close()
    decided = [r for r in audit_records(audit_path) if r["event"] == "policy.decided"]
    assert [r["effect"] for r in decided] == ["deny", "deny", "allow"]
    assert decided[1]["rule_text"] == decided[0]["rule_text"]  # the same deny rule


async def test_a_left_out_field_of_a_nested_object_is_decided_as_its_default(
    make_guard: Callable[..., Guard],
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        left_out = await client.call_tool("sync", {"path": "src", "options": {}})
        kept = await client.call_tool("sync", {"path": "src", "options": {"overwrite": False}})
    assert left_out.is_error, text(left_out)
    assert "call refused" in text(left_out)
    assert not kept.is_error
    assert ran(fixture_log) == ["sync src overwrite=False"]

"""Red team: an argument sent as the JSON text of an object was decided as text and run as the object.

Class: a value the server reads differently from the policy. The Python SDK's servers (FastMCP,
``MCPServer``) parse a string argument as JSON when its parameter is not plain ``str``
(``pre_parse_json``, for clients that send lists and objects as text). For a parameter typed
``dict[str, bool] | str`` the schema accepts the text, so the policy decided on a string while the
tool ran with the object: ``eq(options.overwrite, "true"), deny`` never saw ``overwrite``. A string
that is the JSON of a value the schema also accepts there is now refused: no one reading is the
decided one. Real fixture MCP server.
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
p, *, mcp.fixture.copy_note, *, allow
p, *, mcp.fixture.copy_note, eq(options.overwrite, "true"), deny
p, *, mcp.fixture.echo, *, allow
"""


async def test_an_object_sent_as_its_json_text_is_refused_not_run(
    make_guard: Callable[..., Guard],
    audit_path: Path,
    fixture_log: Path,  # noqa: F811 - the fixture imported above
) -> None:
    guard = make_guard(RULES)
    async with connected(McpProxy(guard, FIXTURE)) as client:
        as_object = await client.call_tool("copy_note", {"path": "a", "options": {"overwrite": True}})
        as_text = await client.call_tool("copy_note", {"path": "a", "options": '{"overwrite": true}'})
        plain = await client.call_tool("copy_note", {"path": "a", "options": "fast"})
        json_for_str = await client.call_tool("echo", {"text": '{"overwrite": true}'})
    assert "call refused" in text(as_object)
    assert as_text.is_error, text(as_text)
    assert "options: is the JSON text" in text(as_text)
    assert "call.invalid_arguments" in text(as_text)
    assert not plain.is_error  # text no reading turns into an object
    assert not json_for_str.is_error  # a plain str parameter: the server keeps the text
    assert ran(fixture_log) == ["copy_note a str fast", 'echo {"overwrite": true}']
    guard.close()
    rejected = [r for r in audit_records(audit_path) if r["event"] == "call.rejected"]
    assert [r["error"]["code"] for r in rejected] == ["call.invalid_arguments"]

"""The user's own text through the MCP proxy: only from a client the operator trusts with it
(``--user-request-meta``), only from tools/call ``_meta``, never from arguments the model wrote."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import types

from agentguard import Guard
from agentguard.integrations.mcp import McpProxy
from agentguard.integrations.mcp._proxy import USER_REQUEST_META

from .conftest import audit_records
from .test_mcp_proxy import FIXTURE, connected

pytestmark = pytest.mark.timeout(120)

# echo runs without a prompt only when its text is the user's own; anything else is denied.
RULES = """
p, *, mcp.fixture.echo, from_user(text), allow
p, *, mcp.fixture.echo, !from_user(text), deny
"""


async def _echo(client: object, text: str, said: str | None) -> types.CallToolResult:
    meta = {USER_REQUEST_META: said} if said is not None else None
    return await client.call_tool("echo", {"text": text}, meta=meta)  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("trusted", [True, False])
async def test_the_clients_user_text_counts_only_when_the_operator_trusts_the_client(
    make_guard: Callable[..., Guard], audit_path: Path, trusted: bool
) -> None:
    guard = make_guard(RULES)
    proxy = McpProxy(guard, FIXTURE, user_request_meta=trusted)
    async with connected(proxy) as client:
        first = await _echo(client, "INV-4471", "please echo INV-4471")
        again = await _echo(client, "INV-4471", "please echo INV-4471")  # same turn, added once
        later = await _echo(client, "ORD-981", "now echo ORD-981")
        never_said = await _echo(client, "ORD-1234", None)
    assert [r.is_error for r in (first, again, later)] == [not trusted] * 3
    assert never_said.is_error  # a value the user never wrote stays denied either way
    guard.close()
    turns = [r["user_request"] for r in audit_records(audit_path) if r["event"] == "session.user_request"]
    assert turns == (["please echo INV-4471", "now echo ORD-981"] if trusted else [])


async def test_user_text_in_the_models_arguments_is_not_the_users(
    make_guard: Callable[..., Guard],
) -> None:
    """The key in the tool's *arguments* (which the model writes) is no user text."""
    guard = make_guard(RULES)
    proxy = McpProxy(guard, FIXTURE, user_request_meta=True)
    async with connected(proxy) as client:
        result = await client.call_tool("echo", {"text": "INV-4471", USER_REQUEST_META: "INV-4471"})
    assert result.is_error
    guard.close()


def test_the_cli_flag_is_documented() -> None:
    from click.testing import CliRunner

    from agentguard.cli import main

    out = CliRunner().invoke(main, ["mcp-proxy", "--help"]).output
    assert "--user-request-meta" in out
    assert sys.executable  # the fixture server runs under this interpreter

"""The fast path keeps a plain ``tools/call`` result in its wire form (``WireResult``) instead of
typing it, dumping it and checking it again: what the agent is answered with, and which results are
refused, must be exactly what the typed way gives, for every shape a server may send."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp
import pytest
from mcp.client.session import ClientSession
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from agentguard import Guard
from agentguard._guard.records import summary
from agentguard.integrations.mcp._fast import WireResult, _serialize, checked_call_result, summary_form
from agentguard.models import Decision, Effect, ToolCall
from agentguard.testing import MemoryAudit


class Point(BaseModel):
    x: int
    y: int


def _server() -> MCPServer:
    server = MCPServer("wire")

    @server.tool()
    def echo(text: str) -> str:
        return text

    @server.tool()
    def point(x: int) -> Point:
        return Point(x=x, y=0)

    @server.tool(structured_output=False)
    def plain(text: str) -> str:
        return text

    return server


@asynccontextmanager
async def _session() -> AsyncIterator[ClientSession]:
    async with mcp.Client(_server(), mode="legacy") as client:
        await client.session.list_tools()
        yield client.session


TEXT = {"type": "text", "text": "hi"}
RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {"content": [TEXT]}),
    ("plain", {"content": [TEXT], "isError": True}),
    ("plain", {"content": [{**TEXT, "annotations": {"audience": ["user"], "priority": 0.5}}]}),
    ("plain", {"content": [TEXT], "_meta": {"k": [1, None]}}),
    ("plain", {"content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]}),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "file:///a", "text": "t"}}]}),
    ("plain", {"content": [{"type": "resource_link", "uri": "file:///a", "name": "a"}]}),
    ("plain", {"content": [{**TEXT, "extra": "dropped?"}]}),
    ("plain", {"content": []}),
    ("plain", {"content": [{"type": "text"}]}),  # no text: refused
    ("plain", {"content": "hi"}),  # refused
    ("plain", {"content": [{"type": "video", "data": "x"}]}),  # an unknown content type
    ("plain", {"content": [TEXT], "isError": "yes"}),
    ("echo", {"content": [TEXT], "structuredContent": {"result": "hi"}}),
    ("echo", {"content": [TEXT]}),  # an output schema, no structured content: refused
    ("echo", {"content": [TEXT], "structuredContent": {"result": 3}}),  # breaks the schema: refused
    ("echo", {"content": [TEXT], "structuredContent": {"result": 3}, "isError": True}),  # an error: kept
    ("echo", {"content": [TEXT], "structuredContent": None}),
    ("point", {"content": [TEXT], "structuredContent": {"x": 1, "y": 2}}),
    ("point", {"content": [TEXT], "structuredContent": {"x": "1", "y": 2}}),
    ("plain", {"content": [TEXT], "ttlMs": -5}),  # a later revision's field: the typed way
    ("plain", {"content": [TEXT], "unknown": 1}),  # not a plain result's key: the typed way
    # null isError: the surface model reads it as false, the typed result refuses it
    ("plain", {"content": [TEXT], "isError": None}),
    ("echo", {"content": [TEXT], "structuredContent": {"result": 3}, "isError": None}),
    ("plain", {"content": [TEXT], "structuredContent": [1, 2]}),
    ("plain", {"content": [TEXT], "structuredContent": "s"}),
    ("plain", {"content": [TEXT], "structuredContent": None}),
    ("echo", {"content": [TEXT], "structuredContent": ["hi"]}),
    ("plain", {"content": [TEXT], "_meta": None}),
    ("plain", {"content": [{**TEXT, "_meta": {"a": {"b": 2**70}}}]}),
    ("plain", {"content": [TEXT], "_meta": {"n": 2**70, "f": 1e300, "z": -0.0}}),
    ("plain", {"content": [TEXT], "structuredContent": {"n": 2**64, "f": 1.0, "z": -0.0}}),
    ("plain", {"content": [{**TEXT, "annotations": {"audience": ["user"], "extra": 1}}]}),
    ("plain", {"content": [{**TEXT, "annotations": None}]}),
    ("plain", {"content": [{**TEXT, "annotations": {"lastModified": "2025-01-01T00:00:00Z"}}]}),
    ("plain", {"content": [{**TEXT, "annotations": {"priority": 2}}]}),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "file:///a", "blob": "aGk="}}]}),
    (
        "plain",
        {"content": [{"type": "resource", "resource": {"uri": "file:///a", "blob": "aGk=", "text": "t"}}]},
    ),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "file:///a"}}]}),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "file:///a", "text": "t", "x": 1}}]}),
    (
        "plain",
        {"content": [{"type": "resource", "resource": {"uri": "file:///a", "text": "t", "_meta": {}}}]},
    ),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "not a uri", "text": "t"}}]}),
    ("plain", {"content": [{"type": "resource_link", "uri": "file:///a", "name": "a", "size": 2**70}]}),
    ("plain", {"content": [{"type": "resource_link", "uri": "file:///a", "name": "a", "icons": []}]}),
    ("plain", {"content": [{"type": "audio", "data": "aGk=", "mimeType": "audio/wav"}]}),
    ("plain", {"content": [{"type": "image", "data": "not base64!", "mimeType": "image/png"}]}),
    ("plain", {"content": [{"type": "text", "text": "hi", "type2": 1}]}),
    ("plain", {"content": [{"type": "text", "text": None}]}),
    ("plain", {"content": None}),
    ("plain", {}),
    ("plain", {"isError": False}),
    ("point", {"content": [TEXT], "structuredContent": {"x": 1.0, "y": 2}}),
    ("point", {"content": [TEXT], "structuredContent": {"x": True, "y": 2}}),
    ("point", {"content": [TEXT], "structuredContent": {"x": 2**70, "y": 2}}),
    ("point", {"content": [TEXT], "structuredContent": {"x": 1, "y": 2, "z": 3}}),
    ("nosuch", {"content": [TEXT], "structuredContent": {"x": 1}}),
    ("nosuch", {"content": [TEXT]}),
]


async def _outcome(session: ClientSession, name: str, raw: dict[str, Any], fast: bool) -> Any:
    version = session.protocol_version
    assert version is not None
    try:
        result = await checked_call_result(session, name, copy.deepcopy(raw), version if fast else None)
        return ("answer", type(result) is WireResult, _serialize(result, version))
    except Exception as exc:  # noqa: BLE001 - the refusal itself is what is compared
        return ("refused", type(exc).__name__)


@pytest.mark.parametrize(("name", "raw"), RESULTS)
async def test_a_wire_result_answers_and_refuses_as_the_typed_way(name: str, raw: dict[str, Any]) -> None:
    async with _session() as session:
        typed = await _outcome(session, name, raw, fast=False)
        wire = await _outcome(session, name, raw, fast=True)
    if typed[0] == "answer":
        assert wire[0] == "answer"
        assert wire[2] == typed[2]
        assert typed[1] is False
    else:
        assert wire == typed


async def test_a_plain_result_is_kept_in_its_wire_form() -> None:
    raw = {"content": [TEXT], "structuredContent": {"result": "hi"}}
    async with _session() as session:
        version = session.protocol_version
        result = await checked_call_result(session, "echo", raw, version)
    assert type(result) is WireResult
    assert _serialize(result, str(version)) is result  # answered as it is, not checked again


async def test_another_protocol_version_is_typed_and_shaped_for_the_agent() -> None:
    raw = {"content": [TEXT]}
    async with _session() as session:
        result = await checked_call_result(session, "plain", raw, "2025-06-18")
    assert type(result) is not WireResult
    assert _serialize(result, "2025-06-18") == {"content": [TEXT], "isError": False}


async def test_a_redacted_wire_form_is_checked_again_before_it_is_sent() -> None:
    """Redaction hands back a plain dict: it is shaped by the surface model, like a typed result."""
    version = "2025-11-25"
    redacted = {"content": [{"type": "text", "text": "[REDACTED:github_token]"}], "extra": 1}
    assert _serialize(redacted, version) == {"content": [redacted["content"][0]]}
    with pytest.raises(mcp.MCPError):
        _serialize({"content": "not a list"}, version)


class _Allow:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


async def _summary(result: Any, version: str) -> Any:
    """The ``result`` field of the ``execution.finished`` record of a guarded call answered ``result``,
    summed up as the proxy has the guard sum it up (``summary_form``)."""
    audit = MemoryAudit()

    async def forward() -> Any:
        return result

    with Guard(_Allow(), audit=audit) as guard:
        guard.register("t", lambda: None)
        await guard.acall("t", {}, invoke=forward, summarize=summary_form(version))
    return next(r for r in audit.records if r["event"] == "execution.finished")["result"]


@pytest.mark.parametrize(("name", "raw"), RESULTS)
async def test_the_audit_summary_is_the_same_either_way(name: str, raw: dict[str, Any]) -> None:
    """The same result, typed (the SDK's way) or kept in its wire form (the fast path), is summed up
    alike in the audit log: both as the wire form the agent is answered with."""
    async with _session() as session:
        version = session.protocol_version
        assert version is not None
        try:
            typed = await checked_call_result(session, name, copy.deepcopy(raw), None)
            wire = await checked_call_result(session, name, copy.deepcopy(raw), version)
        except Exception:  # noqa: BLE001 - refused: no summary to compare
            return
    assert type(typed) is not WireResult
    summed = await _summary(typed, version)
    assert summed == await _summary(wire, version)
    answered = _serialize(typed, version)  # what the agent is answered with, keys sorted
    assert summed == summary(dict(sorted(answered.items())))

"""The same ``tools/call`` result read the SDK's way (a typed ``CallToolResult``) and the fast path's
way (its wire form, ``WireResult``) must leave the same trace: the session's index and marks, the
redaction, the audit records (apart from ids and times) and the answer the agent gets.

A differential test over results of every shape a server sends: text, JSON in text, structured
content, images, audio, embedded resources, resource links, annotations, ``_meta`` at each level,
error results. Both are read as the answer the agent gets (the wire form of its protocol version):
the typed model also holds fields that version's wire does not carry (``resultType``), which the
SDK path used to index as tool output, so the two paths counted different fields.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp
import pytest
from mcp.client.session import ClientSession
from mcp.server.mcpserver import MCPServer

from agentguard import Guard
from agentguard.integrations.mcp._fast import WireResult, _serialize, checked_call_result, summary_form
from agentguard.session import Session
from agentguard.testing import MemoryAudit

TOKEN = "ghp_" + "a1B2" * 9
IBAN = "DE89 3704 0044 0532 0130 00"
MAIL = "mallory@evil.example"


def _server() -> MCPServer:
    server = MCPServer("wire")

    @server.tool()
    def echo(text: str) -> str:
        return text

    @server.tool(structured_output=False)
    def plain(text: str) -> str:
        return text

    return server


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **extra}


NOTE = json.dumps({"note": f"pay {IBAN} now", "by": MAIL, "nested": {"list": ["a", {"k": TOKEN}]}})
RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {"content": [_text("hi")]}),
    ("echo", {"content": [_text("hi")], "structuredContent": {"result": "hi"}}),
    ("echo", {"content": [_text(f"send to {IBAN}")], "structuredContent": {"result": f"send to {IBAN}"}}),
    ("plain", {"content": [_text(NOTE)]}),
    ("plain", {"content": [_text('{"to": "a@b.example", "to": "' + MAIL + '"}')]}),  # a key twice
    ("plain", {"content": [_text("x")], "structuredContent": {"iban": IBAN, "key": TOKEN, "n": 2**70}}),
    ("plain", {"content": [_text("hi")], "isError": True}),
    ("plain", {"content": [_text(f"failed: {TOKEN}")], "isError": True}),
    ("plain", {"content": [_text("hi")], "_meta": {"hint": f"mail {MAIL}", "n": [1, None]}}),
    ("plain", {"content": [_text("hi", _meta={"origin": "https://evil.example/x"})]}),
    ("plain", {"content": [_text("hi", annotations={"audience": ["user"], "priority": 0.5})]}),
    ("plain", {"content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]}),
    ("plain", {"content": [{"type": "audio", "data": "aGk=", "mimeType": "audio/wav"}]}),
    (
        "plain",
        {"content": [{"type": "resource", "resource": {"uri": "file:///a", "text": f"IBAN {IBAN}"}}]},
    ),
    ("plain", {"content": [{"type": "resource", "resource": {"uri": "file:///b", "blob": "aGk="}}]}),
    (
        "plain",
        {
            "content": [
                {
                    "type": "resource",
                    "resource": {"uri": "file:///c", "text": "t", "_meta": {"from": MAIL}},
                    "annotations": {"audience": ["assistant"]},
                }
            ]
        },
    ),
    (
        "plain",
        {
            "content": [
                {
                    "type": "resource_link",
                    "uri": "https://evil.example/doc",
                    "name": "doc",
                    "description": f"write to {MAIL}",
                    "title": "Doc",
                }
            ]
        },
    ),
    ("plain", {"content": []}),
    ("plain", {"content": [_text("a"), _text(TOKEN[:20]), _text(TOKEN[20:])]}),  # a key split in two
]

UNTRUSTED_ONLY = ""  # no outputs.toml: every tool's output is untrusted, nothing is redacted
LABELLED = """
[[output]]
tool = "mcp.wire.*"
trust = "trusted"
untrusted = ["$.content[*].text.note", "$._meta", "$.structuredContent.iban"]
redact = ["secret", "pii"]
"""


@asynccontextmanager
async def _session() -> AsyncIterator[ClientSession]:
    async with mcp.Client(_server(), mode="legacy") as client:
        await client.session.list_tools()
        yield client.session


_VOLATILE = {"seq", "call_id", "ts", "time", "timestamp", "duration_ms", "hash", "prev", "prev_hash"}


def _records(audit: MemoryAudit) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in _VOLATILE} for r in audit.records]


def _index(session: Session) -> dict[str, tuple[int, list[str]]]:
    """Each key the session has seen: its mask and the trust of the sources it was seen in."""
    entries = session.index._entries
    return {
        key: (entry.mask, [session.source(i).trust for i in entry.sources])
        for key, entry in sorted(entries.items())
    }


async def _run(guard: Guard, audit: MemoryAudit, name: str, result: Any, version: str, fast: bool) -> Any:
    """One guarded call answered ``result``, as the proxy makes it: the fast path delivers the wire
    form (``_fast.ClientLane``), the SDK path gets the typed result back and the SDK dumps it."""
    delivered: list[Any] = []

    async def forward() -> Any:
        return result

    session = guard.open_session(session_id="mcp-differential", framework="mcp")
    try:
        with session.active():
            try:
                got = await guard.acall(
                    f"mcp.wire.{name}",
                    {},
                    framework="mcp",
                    invoke=forward,
                    deliver=delivered.append if fast else None,
                    summarize=summary_form(version),
                )
                answer: Any = _serialize(delivered[0] if fast else got, version)
            except Exception as exc:  # noqa: BLE001 - the refusal is what is compared
                answer = ("refused", type(exc).__name__, str(exc).split(" call ")[0])
        state = (_index(session), sorted(session.marks), len(session.sources))
    finally:
        guard.close_session(session, framework="mcp")
    return answer, state, _records(audit)


@pytest.mark.parametrize("outputs", [UNTRUSTED_ONLY, LABELLED], ids=["untrusted", "labelled"])
@pytest.mark.parametrize(("name", "raw"), RESULTS)
async def test_both_paths_read_the_same_result_into_the_session(
    make_policy: Callable[[str], Path], name: str, raw: dict[str, Any], outputs: str
) -> None:
    policy = make_policy("p, *, mcp.wire.*, *, allow")
    if outputs:
        (policy / "outputs.toml").write_text(outputs, encoding="utf-8")
    seen: list[Any] = []
    async with _session() as session:
        version = session.protocol_version
        assert version is not None
        typed = await checked_call_result(session, name, copy.deepcopy(raw), None)
        wire = await checked_call_result(session, name, copy.deepcopy(raw), version)
        assert type(typed) is not WireResult
        assert type(wire) is WireResult
        for result, fast in ((typed, False), (wire, True)):
            audit = MemoryAudit()
            with Guard(policy, audit=audit) as guard:
                guard.register(f"mcp.wire.{name}", lambda: None)
                seen.append(await _run(guard, audit, name, result, str(version), fast))
    (sdk_answer, sdk_state, sdk_records), (fast_answer, fast_state, fast_records) = seen
    assert fast_answer == sdk_answer
    assert fast_state == sdk_state
    assert fast_records == sdk_records
    finished = next(r for r in fast_records if r["event"] == "execution.finished")
    counted = finished["provenance"]["untrusted_fields"] + finished["provenance"]["trusted_fields"]
    assert counted > 0 or not raw["content"]  # every shape is read (an empty one holds nothing)


async def test_the_sdk_path_reads_no_field_the_agent_is_not_answered_with(
    make_policy: Callable[[str], Path],
) -> None:
    """The lead: an echo result counted 4 untrusted fields the SDK's way, 3 the fast way. The fourth
    was the typed model's ``resultType`` ("complete"), which this protocol version's answer lacks."""
    policy = make_policy("p, *, mcp.wire.*, *, allow")
    raw = {"content": [_text("hi")], "structuredContent": {"result": "hi"}}
    async with _session() as session:
        version = str(session.protocol_version)
        typed = await checked_call_result(session, "echo", copy.deepcopy(raw), None)
        audit = MemoryAudit()
        with Guard(policy, audit=audit) as guard:
            guard.register("mcp.wire.echo", lambda: None)
            answer, (index, _, _), records = await _run(guard, audit, "echo", typed, version, False)
    assert "resultType" not in answer
    assert "complete" not in index  # read by the SDK path before: indexed as tool output
    finished = next(r for r in records if r["event"] == "execution.finished")
    assert finished["provenance"]["untrusted_fields"] == 3  # "text", "hi", and the structured "hi"

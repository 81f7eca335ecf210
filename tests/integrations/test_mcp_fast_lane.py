"""Which lines from the agent the fast path takes (``ClientLane``), and how it answers them.

A stub connection stands in for the SDK's; the guarded call is a recording stand-in, so what is
checked here is the gate and the id mapping, not the guard (``test_mcp_fast_path`` runs the real one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
import pytest

from agentguard.integrations.mcp._fast import ClientLane, UpstreamLane


@dataclass
class _Connection:
    protocol_version: str = "2025-06-18"
    initialize_accepted: bool = True


@dataclass
class _Client:
    _connection: _Connection


def _line(message: Any) -> str:
    return json.dumps(message) + "\n"


def _call(request_id: Any = 1, **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": params or {"name": "echo", "arguments": {"text": "hi"}},
    }


async def _lane(connection: _Connection | None = None) -> tuple[ClientLane, list[tuple[str, Any]], list[str]]:
    seen: list[tuple[str, Any]] = []
    written: list[str] = []

    async def guarded(name: str, arguments: Any, client: Any) -> types.CallToolResult:
        seen.append((name, arguments))
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"ran {name}")])

    async def write(text: str) -> None:
        written.append(text)

    lane = ClientLane(guarded, lambda name: name == "echo")
    lane.client = _Client(connection or _Connection())  # type: ignore[assignment]
    lane.attach(write)
    return lane, seen, written


@pytest.mark.parametrize(
    "message",
    [
        _call(True),  # a bool is not an id
        _call(1.5),
        _call(None),
        _call(1, name="echo", arguments={"text": "hi"}, _meta={"progressToken": 1}),  # progress: the SDK's
        _call(1, name="echo", arguments=[1, 2]),  # the SDK's own refusal
        _call(1, name="not_listed", arguments={}),
        _call(1, name=7),
        _call(1, name="echo", arguments={"text": float("nan")}),  # NaN: not JSON, the SDK refuses it
        {**_call(), "extra": 1},
        {**_call(), "jsonrpc": "1.0"},
        [_call()],  # a batch
    ],
)
async def test_anything_but_a_plain_call_of_a_listed_tool_is_left_to_the_sdk(message: Any) -> None:
    lane, seen, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert not lane.from_client(_line(message))
    assert seen == []


@pytest.mark.parametrize(
    "connection",
    [_Connection(initialize_accepted=False), _Connection(protocol_version="2026-07-28")],
)
async def test_nothing_is_taken_before_initialization_or_on_a_modern_connection(
    connection: _Connection,
) -> None:
    lane, _, _ = await _lane(connection)
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert not lane.from_client(_line(_call()))


async def test_nothing_is_taken_when_results_get_cache_hints() -> None:
    lane, _, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=True)
        assert not lane.from_client(_line(_call()))


async def test_a_plain_call_is_answered_with_the_agents_own_id() -> None:
    lane, seen, written = await _lane()
    ids: list[Any] = ["x", 2**70, 0, "agentguard-fast-1"]
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        for request_id in ids:
            assert lane.from_client(_line(_call(request_id)))
        assert lane.from_client(_line(_call(5, name="echo")))  # no arguments: {} is decided on
    assert [s[1] for s in seen] == [{"text": "hi"}] * len(ids) + [{}]
    answers = [json.loads(text) for text in written]
    assert sorted(json.dumps(a["id"]) for a in answers) == sorted(json.dumps(i) for i in [*ids, 5])
    assert all(a["result"]["content"][0]["text"] == "ran echo" for a in answers)


async def test_a_cancellation_is_taken_only_for_a_running_fast_call() -> None:
    lane, _, written = await _lane()
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert not lane.from_client(_line(cancel))  # nothing running: the SDK's
        assert not lane.from_client(_line([cancel]))
        assert lane.from_client(_line(_call(3)))
        assert not lane.from_client(_line({**cancel, "params": {"requestId": "3"}}))  # another id
        assert lane.from_client(_line(cancel))
    assert written == []  # a cancelled call is not answered


async def test_a_reused_id_while_the_first_runs_goes_to_the_sdk() -> None:
    lane, _, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(9)))
        assert not lane.from_client(_line(_call(9)))  # the first has not run yet


async def test_an_upstream_lane_fails_its_waiting_requests_when_the_server_goes() -> None:
    sent: list[str] = []
    lane = UpstreamLane()

    async def send(line: str) -> None:
        sent.append(line)

    lane.send = send
    from mcp.shared.exceptions import MCPError

    async with anyio.create_task_group() as tg:

        async def call() -> None:
            with pytest.raises(MCPError) as info:
                await lane.request("tools/call", {"name": "echo", "arguments": {}})
            assert info.value.code == types.CONNECTION_CLOSED

        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        request = json.loads(sent[0])
        assert isinstance(request["id"], str)  # never an integer: the SDK client's ids are
        assert not lane.tap(json.dumps({"jsonrpc": "2.0", "id": "other", "result": {}}))
        lane.close()


async def test_an_upstream_response_is_matched_by_the_proxys_id() -> None:
    sent: list[str] = []
    lane = UpstreamLane()

    async def send(line: str) -> None:
        sent.append(line)

    lane.send = send
    results: list[dict[str, Any]] = []
    async with anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(await lane.request("tools/call", {"name": "echo", "arguments": {}}))

        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        request_id = json.loads(sent[0])["id"]
        # a server request that happens to carry the id is not a response
        assert not lane.tap(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}))
        assert lane.tap(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"content": []}}))
    assert results == [{"content": []}]

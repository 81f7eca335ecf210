"""Which lines from the agent the fast path takes (``ClientLane``), and how it answers them.

A stub connection stands in for the SDK's; the guarded call is a recording stand-in, so what is
checked here is the gate and the id mapping, not the guard (``test_mcp_fast_path`` runs the real one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types as types
import pytest

from agentguard.integrations.mcp._fast import ClientLane, GuardedCall, UpstreamLane


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


class _Wire:
    """The agent's pipe: what was written, and how (at once, or awaited)."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.now: list[str] = []
        self.drained = 0

    async def write(self, text: str) -> None:
        self.written.append(text)

    def write_now(self, text: str) -> None:
        self.written.append(text)
        self.now.append(text)

    async def drain(self) -> None:
        self.drained += 1


async def _lane(
    connection: _Connection | None = None,
    guarded: GuardedCall | None = None,
    wire: _Wire | None = None,
) -> tuple[ClientLane, list[tuple[str, Any]], list[str]]:
    seen: list[tuple[str, Any]] = []
    wire = wire or _Wire()

    async def plain(
        name: str, arguments: Any, client: Any, meta: Any, forward_to: Any, deliver: Any
    ) -> types.CallToolResult:
        seen.append((name, arguments))
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"ran {name}")])

    lane = ClientLane(guarded or plain, lambda name: name == "echo")
    lane.client = _Client(connection or _Connection())  # type: ignore[assignment]
    lane.attach(wire)
    return lane, seen, wire.written


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
        lane.stop()  # the group then waits for the calls taken
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
        lane.stop()  # the group then waits for the calls taken


async def test_nothing_is_taken_when_results_get_cache_hints() -> None:
    lane, _, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=True)
        assert not lane.from_client(_line(_call()))
        lane.stop()  # the group then waits for the calls taken


async def test_a_plain_call_is_answered_with_the_agents_own_id() -> None:
    lane, seen, written = await _lane()
    ids: list[Any] = ["x", 2**70, 0, "agentguard-fast-1"]
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        for request_id in ids:
            assert lane.from_client(_line(_call(request_id)))
        assert lane.from_client(_line(_call(5, name="echo")))  # no arguments: {} is decided on
        lane.stop()  # the group then waits for the calls taken
    assert [s[1] for s in seen] == [{"text": "hi"}] * len(ids) + [{}]
    answers = [json.loads(text) for text in written]
    assert sorted(json.dumps(a["id"]) for a in answers) == sorted(json.dumps(i) for i in [*ids, 5])
    assert all(a["result"]["content"][0]["text"] == "ran echo" for a in answers)


async def test_a_delivered_answer_is_written_at_once_and_only_once() -> None:
    """The guard hands the result on before recording it: the line is on the pipe before the guarded
    call returns (no event-loop turn in between), and the lane does not answer a second time."""
    wire = _Wire()
    on_pipe_before_return: list[list[str]] = []

    async def guarded(
        name: str, arguments: Any, client: Any, meta: Any, forward_to: Any, deliver: Any
    ) -> types.CallToolResult:
        result = types.CallToolResult(content=[types.TextContent(type="text", text="early")])
        deliver(result)
        on_pipe_before_return.append(list(wire.now))
        return result

    lane, _, written = await _lane(guarded=guarded, wire=wire)
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(7)))
        lane.stop()  # the group then waits for the calls taken
    assert [json.loads(t)["id"] for t in on_pipe_before_return[0]] == [7]
    assert len(written) == 1
    assert json.loads(written[0])["result"]["content"][0]["text"] == "early"
    assert wire.drained == 1  # flow control still applies, after the bookkeeping


async def test_a_failure_after_the_answer_is_not_answered_again() -> None:
    async def guarded(
        name: str, arguments: Any, client: Any, meta: Any, forward_to: Any, deliver: Any
    ) -> types.CallToolResult:
        deliver(types.CallToolResult(content=[types.TextContent(type="text", text="early")]))
        raise RuntimeError("the audit log failed after the answer")

    lane, _, written = await _lane(guarded=guarded)
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(8)))
        lane.stop()  # the group then waits for the calls taken
    assert [json.loads(t).get("result", {}).get("content", [{}])[0].get("text") for t in written] == ["early"]


async def test_a_cancellation_is_taken_only_for_a_running_fast_call() -> None:
    lane, _, written = await _lane()
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert not lane.from_client(_line(cancel))  # nothing running: the SDK's
        assert not lane.from_client(_line([cancel]))
        assert lane.from_client(_line(_call(3)))
        assert not lane.from_client(_line({**cancel, "params": {"requestId": "4"}}))  # another id
        assert lane.from_client(_line(cancel))
        lane.stop()  # the group then waits for the calls taken
    assert written == []  # a cancelled call is not answered


@pytest.mark.parametrize(("call_id", "cancel_id"), [(3, "3"), ("7", 7), (2**70, str(2**70))])
async def test_a_cancellation_correlates_ids_as_the_sdk_does(call_id: Any, cancel_id: Any) -> None:
    """The SDK's dispatcher takes "7" and 7 for one id (``coerce_request_id``: a client that echoes
    ids as text). A call on the fast path was not cancelled by such a cancellation, one on the SDK
    path was: the call ran on and was answered after the agent gave it up."""
    lane, _, written = await _lane()
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": cancel_id}}
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(call_id)))
        assert lane.from_client(_line(cancel))
        lane.stop()  # the group then waits for the calls taken
    assert written == []  # cancelled: not answered


@pytest.mark.parametrize(
    "line",
    [
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"tools/call"}}',
        '{"jsonrpc":"2.0","method":"notifications\\/cancelled","params":{"requestId":3}}',
        '{"jsonrpc":"2.0","method":"notifications/\\u0063ancelled","params":{"requestId":3}}',
    ],
)
async def test_a_cancellation_is_recognised_however_it_is_written(line: str) -> None:
    """The same JSON the SDK reads as a cancellation: a reason that names the method sent the line to
    the call gate and no further, an escaped method name passed the text check: the call ran on."""
    assert json.loads(line)["method"] == "notifications/cancelled"
    lane, _, written = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(3)))
        assert lane.from_client(line + "\n")
        lane.stop()  # the group then waits for the calls taken
    assert written == []  # cancelled: not answered


async def test_a_reused_id_in_another_json_type_goes_to_the_sdk() -> None:
    """Reuse as the SDK's dispatcher counts it: "9" while 9 runs is the same id."""
    lane, _, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(9)))
        assert not lane.from_client(_line(_call("9")))
        lane.stop()  # the group then waits for the calls taken


async def test_a_reused_id_while_the_first_runs_goes_to_the_sdk() -> None:
    lane, _, _ = await _lane()
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(_line(_call(9)))
        assert not lane.from_client(_line(_call(9)))  # the first has not run yet
        lane.stop()  # the group then waits for the calls taken


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


async def test_the_group_waits_for_a_call_in_flight_after_stop() -> None:
    """Calls run in plain asyncio tasks: the lane's stand-in keeps the task group open until they end."""
    release = anyio.Event()

    async def guarded(
        name: str, arguments: Any, client: Any, meta: Any, forward_to: Any, deliver: Any
    ) -> types.CallToolResult:
        await release.wait()
        for _ in range(20):  # event-loop turns the group must wait out, not the call's first step only
            await anyio.lowlevel.checkpoint()
        return types.CallToolResult(content=[types.TextContent(type="text", text="late")])

    lane, _, written = await _lane(guarded=guarded)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            lane.start(tg, cache_hinted=False)
            assert lane.from_client(_line(_call(11)))
            lane.stop()
            assert not lane.from_client(_line(_call(12)))  # stopped: no more calls taken
            await anyio.wait_all_tasks_blocked()
            assert written == []
            release.set()
    assert [json.loads(t)["id"] for t in written] == [11]


async def test_the_groups_cancellation_reaches_a_call_in_flight() -> None:
    """As with anyio's own tasks: a cancelled group cancels the call, which answers "connection
    closed" (a shielded write) so the agent is not left waiting."""
    started = anyio.Event()

    async def guarded(
        name: str, arguments: Any, client: Any, meta: Any, forward_to: Any, deliver: Any
    ) -> types.CallToolResult:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    lane, _, written = await _lane(guarded=guarded)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            lane.start(tg, cache_hinted=False)
            assert lane.from_client(_line(_call("c")))
            await started.wait()
            tg.cancel_scope.cancel()
    answers = [json.loads(t) for t in written]
    assert [(a["id"], a["error"]["code"]) for a in answers] == [("c", types.CONNECTION_CLOSED)]


def _escaped(text: str) -> str:
    """``text`` as a JSON string with every character written as a ``\\uXXXX`` escape."""
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'


_RESPONSE = '{"jsonrpc": "2.0", "id": ID, "result": {"content": []}}'


@pytest.mark.parametrize(
    "write",
    [
        lambda rid: _RESPONSE.replace("ID", _escaped(rid)),  # every character escaped
        lambda rid: _RESPONSE.replace("ID", f'"{rid[:-1]}\\u{ord(rid[-1]):04x}"'),  # its last digit
        lambda rid: _RESPONSE.replace("ID", json.dumps(rid).replace("-", "\\u002d")),
        lambda rid: _RESPONSE.replace('"id"', '"\\u0069d"').replace("ID", json.dumps(rid)),  # the key
    ],
)
async def test_an_upstream_response_is_matched_however_its_id_is_written(write: Any) -> None:
    """The id is read as JSON reads it (as the SDK's client would match it): an escaped id is the same id."""
    sent: list[str] = []
    lane = UpstreamLane()

    async def send(line: str) -> None:
        sent.append(line)

    lane.send = send
    results: list[dict[str, Any]] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                results.append(await lane.request("tools/call", {"name": "echo", "arguments": {}}))

            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            request_id = json.loads(sent[0])["id"]
            line = write(request_id)
            assert json.loads(line)["id"] == request_id  # the same id, as JSON reads it
            assert lane.tap(line)
    assert results == [{"content": []}]


@pytest.mark.parametrize("version", [None, "1.0", 2.0])
async def test_an_upstream_response_without_jsonrpc_2_is_left_to_the_sdk(version: Any) -> None:
    """The SDK's client reads no response from a line without ``"jsonrpc": "2.0"`` (it drops it as
    invalid): the lane does not take it either, and the call waits on as the SDK's would."""
    sent: list[str] = []
    lane = UpstreamLane()

    async def send(line: str) -> None:
        sent.append(line)

    lane.send = send
    async with anyio.create_task_group() as tg:
        tg.start_soon(lane.request, "tools/call", {"name": "echo", "arguments": {}})
        await anyio.wait_all_tasks_blocked()
        request_id = json.loads(sent[0])["id"]
        response: dict[str, Any] = {"id": request_id, "result": {"content": []}}
        if version is not None:
            response["jsonrpc"] = version
        assert not lane.tap(json.dumps(response))
        assert lane.tap(json.dumps({**response, "jsonrpc": "2.0"}))  # still waiting for its answer

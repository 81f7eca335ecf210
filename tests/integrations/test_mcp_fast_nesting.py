"""A line nested deeper than Python's JSON decoder recurses is left to the SDK, on either pipe.

Class: the fast path's decoder raised ``RecursionError`` (not ``ValueError``) for such a line, out of
the agent's line reader or the server's stdout reader: the proxy's connection died where the SDK's
own parser (a recursion limit of its own) answers a parse error and carries on.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from agentguard.integrations.mcp._fast import UpstreamLane

from .test_mcp_fast_lane import _lane

DEPTH = 100_000


async def test_a_deeply_nested_call_is_left_to_the_sdk() -> None:
    lane, seen, written = await _lane()
    nested = "[" * DEPTH + "]" * DEPTH
    line = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":'
        + nested
        + "}}}\n"
    )
    async with anyio.create_task_group() as tg:
        lane.start(tg, cache_hinted=False)
        assert lane.from_client(line) is False
        lane.stop()  # the group then waits for the calls taken
    assert seen == []
    assert written == []


async def test_a_deeply_nested_response_is_left_to_the_sdk() -> None:
    upstream = UpstreamLane()
    sent: list[str] = []

    async def send(line: str) -> None:
        sent.append(line)

    upstream.send = send
    outcome: list[BaseException] = []

    async def call() -> None:
        try:
            await upstream.request("tools/call", {"name": "echo", "arguments": {}})
        except Exception as exc:  # noqa: BLE001 - the test reads which
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        while not sent:
            await anyio.lowlevel.checkpoint()
        nested = "[" * DEPTH + "]" * DEPTH
        response = '{"jsonrpc":"2.0","id":"agentguard-fast-1","result":{"a":' + nested + "}}"
        assert upstream.tap(response) is False
        upstream.close()  # the waiting call still ends, as a lost connection
    assert len(outcome) == 1

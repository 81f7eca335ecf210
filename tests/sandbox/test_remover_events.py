"""The remover's use of the engine's destroy events, with a stand-in stream (no engine): a reported
container is confirmed without a listing, whether the report comes before or after its submit, and
a stream that ends hands the confirmation back to the listing."""

from __future__ import annotations

import queue
from collections.abc import Iterator

from agentguard.sandbox._container import Live, PoolKey
from agentguard.sandbox._protocol import ResponseParser
from agentguard.sandbox._remover import Remover
from agentguard.sandbox_api import SandboxProfile

from .conftest import wait_until

KEY = PoolKey("python", "default", SandboxProfile())


class Stream:
    def __init__(self) -> None:
        self.ids: queue.Queue[str | None] = queue.Queue()

    def __iter__(self) -> Iterator[str]:
        while (cid := self.ids.get()) is not None:
            yield cid

    def close(self) -> None:
        self.ids.put(None)


def live(cid: str) -> Live:
    return Live(id=cid, key=KEY, sock=None, handle=None, parser=ResponseParser(1024))  # type: ignore[arg-type]


def test_reported_containers_are_confirmed_without_listing() -> None:
    stream = Stream()
    listings: list[int] = []
    forced: list[str] = []

    def present() -> list[str]:
        listings.append(1)
        return ["late", "early"]  # a listing would say both are still there

    remover = Remover(forced.append, present, destroyed=lambda: stream, grace_s=60.0, fallback_s=60.0)
    try:
        wait_until(lambda: remover.listening, what="the stand-in stream")
        remover.submit(live("late"))
        assert remover.pending() == 1
        stream.ids.put("early")  # reported before its submit
        stream.ids.put("late")
        assert remover.drain(10)
        remover.submit(live("early"))
        assert remover.pending() == 0
        assert listings == []
        assert forced == []
    finally:
        remover.close()
    assert not remover.listening


def test_a_stream_that_ends_hands_confirmation_to_the_listing() -> None:
    streams = [Stream()]
    listings: list[int] = []

    def destroyed() -> Stream:
        if not streams:
            raise OSError("the engine stopped streaming events")
        return streams.pop()

    def present() -> list[str]:
        listings.append(1)
        return []  # gone

    first = streams[0]
    remover = Remover(lambda cid: None, present, destroyed=destroyed, grace_s=60.0, fallback_s=60.0)
    try:
        wait_until(lambda: remover.listening, what="the stand-in stream")
        first.close()
        wait_until(lambda: not remover.listening, what="the stream's end")
        remover.submit(live("after"))
        assert remover.drain(10)
        assert listings
    finally:
        remover.close()

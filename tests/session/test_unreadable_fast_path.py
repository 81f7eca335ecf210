"""``_unreadable`` answers plain JSON containers (a wire result) without its ABC checks.

A differential test: the same verdict as the general walk (kept here as the reference) for results
with streams hidden at any depth, in containers of every kind, up to and past the depth limit.
"""

from __future__ import annotations

import io
from collections import OrderedDict, UserDict
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Any

import pytest

from agentguard.session._record import _unreadable

_STREAMS = (Iterator, AsyncIterator, Awaitable)
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})


def _reference(value: Any, depth: int = 0) -> bool:
    """The walk before the fast path (every container through the ABC checks)."""
    if type(value) in _PLAIN:
        return False
    if isinstance(value, _STREAMS):
        return True
    if depth >= 64:
        return False
    if isinstance(value, Mapping):
        return any(_reference(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_reference(v, depth + 1) for v in value)
    return False


async def _coroutine() -> None:
    return None


class _ListStream(list[Any]):
    """A list that is also an iterator: a stream, whatever its base class."""

    def __next__(self) -> Any:
        raise StopIteration


def _nested(depth: int, leaf: Any, container: str = "dict") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if container == "dict" else [value]
    return value


def _cases() -> list[Any]:
    def generator() -> Iterator[int]:
        yield 1

    cases: list[Any] = [
        {"content": [{"type": "text", "text": "hello"}], "isError": False},
        {"content": [{"type": "text", "text": generator()}]},
        [1, "a", None, [iter([1])]],
        {"a": io.StringIO("x")},  # an open file is an iterator
        {"a": (1, 2, iter(()))},
        OrderedDict(a=generator()),
        UserDict(a=generator()),
        _ListStream([1]),
        {"a": _ListStream([1])},
        [{"k": [{"k": [generator()]}]}],
        {"a": [], "b": {}, "c": ()},
    ]
    for depth in (62, 63, 64, 65, 66):
        for container in ("dict", "list"):
            cases.append(_nested(depth, generator(), container))
            cases.append(_nested(depth, [generator()], container))
    return cases


@pytest.mark.parametrize("value", _cases())
def test_the_fast_path_gives_the_general_walks_verdict(value: Any) -> None:
    assert _unreadable(value) is _reference(value)


def test_a_coroutine_in_a_wire_result_is_unreadable() -> None:
    coroutine = _coroutine()
    try:
        assert _unreadable({"content": [{"text": coroutine}]})
        assert _unreadable([[coroutine]])
    finally:
        coroutine.close()

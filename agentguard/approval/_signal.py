"""A change counter that threads and coroutines wait on: how both queue databases (SQLite polled,
PostgreSQL notified) tell waiters that the queue changed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["ChangeSignal"]


class ChangeSignal:
    """``version`` grows on every :meth:`bump`; waiters wake on a change or on :meth:`close`."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._version = 0
        self._listeners: set[Callable[[], None]] = set()
        self.closed = False

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    def bump(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def close(self) -> bool:
        """Wake every waiter for good; False if it was already closed."""
        with self._cond:
            if self.closed:
                return False
            self.closed = True
            self._cond.notify_all()
            return True

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the version passes ``seen``, the signal closes or ``timeout`` seconds pass."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != seen or self.closed, timeout=max(timeout, 0))
            return self._version

    async def await_change(self, seen: int, timeout: float) -> int:
        """The async form of :meth:`wait`: no thread is held while waiting."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        with self._cond:
            self._listeners.add(wake)
            current = self._version
        try:
            if current == seen:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=max(timeout, 0))
        finally:
            with self._cond:
                self._listeners.discard(wake)
        return self.version

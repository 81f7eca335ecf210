"""Warm single-use containers, refilled in parallel in the background."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import structlog

from agentguard.sandbox._container import Live, PoolKey

__all__ = ["WarmPool"]

log = structlog.get_logger("agentguard.sandbox")

_MAX_BACKOFF_S = 30.0
# How long a caller waits for a container the fillers are already starting before it starts one itself.
_HANDOFF_WAIT_S = 60.0


class WarmPool:
    """Per (language, profile) a queue of started containers, each used for exactly one execution.

    ``fillers`` threads start containers in parallel (the engine's rate of starts rises up to 8-16
    concurrent ones, and each filler also waits for its runner to be ready). The target per key is ``size``
    plus the callers waiting, so the pool follows demand. A taken container holds its place until
    ``release`` (its execution ended) or for ``hold_s``, whichever comes first: the refill does not
    compete for the CPU with the short execution it replaces, and a long one does not leave the
    pool short. ``take`` hands a caller the next warm
    container, waiting for one the fillers are starting; it returns None (the caller starts its own,
    a cold start) when the pool is off, filling fails (so the caller sees the error) or is closed.
    A container leaves the pool once: ``take`` pops it under the lock.
    """

    def __init__(
        self,
        spawn: Callable[[PoolKey], Live],
        discard: Callable[[Live], None],
        *,
        size: int,
        max_idle_s: float,
        fillers: int = 12,
        hold_s: float = 1.0,
    ) -> None:
        self._spawn = spawn
        self._discard = discard
        self._size = size
        self._max_idle_s = max_idle_s
        self._hold_s = hold_s
        self._idle: dict[PoolKey, deque[Live]] = {}
        self._pending: dict[PoolKey, int] = {}
        self._waiting: dict[PoolKey, int] = {}
        self._held: dict[PoolKey, list[float]] = {}  # when each taken container's hold ends
        self._cond = threading.Condition()
        self._closed = False
        self._backoff_until = 0.0
        self._backoff_s = 0.5
        self.last_error: str | None = None
        self._threads = [
            threading.Thread(target=self._fill_loop, name=f"agentguard-sandbox-pool-{i}", daemon=True)
            for i in range(max(1, fillers) if size else 0)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return self._size

    def _track(self, key: PoolKey) -> deque[Live]:
        self._pending.setdefault(key, 0)
        self._waiting.setdefault(key, 0)
        self._held.setdefault(key, [])
        return self._idle.setdefault(key, deque())

    def want(self, key: PoolKey) -> None:
        """Keep ``key`` warm from now on."""
        if not self._size:
            return
        with self._cond:
            self._track(key)
            self._cond.notify_all()

    def take(self, key: PoolKey, wait_s: float = _HANDOFF_WAIT_S) -> Live | None:
        """A warm container for ``key`` (removed from the pool), or None: start one yourself."""
        if not self._size:
            return None
        stale: list[Live] = []
        found: Live | None = None
        deadline = time.monotonic() + wait_s
        with self._cond:
            queue = self._track(key)
            self._waiting[key] += 1
            self._cond.notify_all()  # a filler may start one for us
            try:
                while True:
                    now = time.monotonic()
                    while queue:
                        live = queue.popleft()
                        if now - live.created > self._max_idle_s:
                            stale.append(live)
                            continue
                        found = live
                        break
                    if found is not None or self._closed or self.last_error is not None or now >= deadline:
                        break
                    self._cond.wait(deadline - now)
            finally:
                self._waiting[key] -= 1
                if found is not None:
                    self._held[key].append(time.monotonic() + self._hold_s)
                self._cond.notify_all()
        for live in stale:
            self._discard(live)
        return found

    def release(self, key: PoolKey) -> None:
        """The execution in a container ``take`` returned for ``key`` has ended: refill its place."""
        with self._cond:
            held = self._held.get(key)
            if held:
                held.remove(min(held))
            self._cond.notify_all()

    def ready(self, key: PoolKey) -> int:
        with self._cond:
            return len(self._idle.get(key, ()))

    def wait_ready(self, key: PoolKey, count: int = 1, timeout_s: float = 30.0) -> bool:
        """Block until ``count`` warm containers for ``key`` exist (benchmarks, tests, doctor)."""
        self.want(key)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._idle.get(key, ())) < min(count, self._size):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
            return True

    def _next_key(self, now: float) -> tuple[PoolKey | None, float | None]:
        """A key to start a container for, else how long until a hold ends (None: no hold)."""
        until: float | None = None
        for key, queue in self._idle.items():
            held = [end for end in self._held[key] if end > now]
            self._held[key] = held
            if len(queue) + self._pending[key] + len(held) < self._size + self._waiting[key]:
                return key, None
            if held:
                soonest = min(held) - now
                until = soonest if until is None else min(until, soonest)
        return None, until

    def _fill_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    wait: float | None = self._backoff_until - now
                    if wait is not None and wait <= 0:
                        key, wait = self._next_key(now)
                        if key is not None:
                            break
                    self._cond.wait(wait)
                self._pending[key] += 1
            live: Live | None = None
            try:
                live = self._spawn(key)
            except Exception as exc:  # noqa: BLE001 - a cold start will raise it to the caller
                with self._cond:
                    self.last_error = str(exc)
                    self._backoff_until = time.monotonic() + self._backoff_s
                    self._backoff_s = min(self._backoff_s * 2, _MAX_BACKOFF_S)
                log.warning("sandbox.pool_fill_failed", language=key.language, error=str(exc))
            discard = False
            with self._cond:
                self._pending[key] -= 1
                if live is not None:
                    self._backoff_s = 0.5
                    self.last_error = None
                    if self._closed:
                        discard = True
                    else:
                        self._idle[key].append(live)
                self._cond.notify_all()
            if discard and live is not None:
                self._discard(live)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle = [live for queue in self._idle.values() for live in queue]
            self._idle.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        for live in idle:
            self._discard(live)

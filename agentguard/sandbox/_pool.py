"""Warm single-use containers, refilled in the background, and the background remover."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from agentguard.sandbox._container import Live, PoolKey

__all__ = ["Remover", "WarmPool"]

log = structlog.get_logger("agentguard.sandbox")

_FILLERS = 2
_MAX_BACKOFF_S = 30.0


class Remover:
    """Removes finished containers off the caller's path; ``drain`` waits until all are gone."""

    def __init__(self, remove: Callable[[str], None]) -> None:
        self._remove = remove
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agentguard-sandbox-rm")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, live: Live) -> None:
        live.close_socket()
        try:
            future = self._executor.submit(self._run, live.id)
        except RuntimeError:  # shut down (close() raced a running call): remove inline instead
            self._run(live.id)
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _run(self, cid: str) -> None:
        try:
            self._remove(cid)
        except Exception as exc:  # noqa: BLE001 - logged; `agentguard sandbox reap` catches leftovers
            log.warning("sandbox.remove_failed", container=cid, error=str(exc))

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait for every submitted removal; True when none is left."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            for future in pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    future.result(timeout=remaining)
                except Exception:  # noqa: BLE001, S112 - _run logs; timeouts are re-checked above
                    continue

    def close(self) -> None:
        self.drain()
        self._executor.shutdown(wait=True)


class WarmPool:
    """Per (language, profile) a queue of started containers, each used for exactly one execution.

    ``take`` never blocks: with no warm container the caller starts one itself (a cold start).
    Fillers run in background threads; spawn failures back off exponentially so a stopped engine
    is not hammered.
    """

    def __init__(
        self,
        spawn: Callable[[PoolKey], Live],
        discard: Callable[[Live], None],
        *,
        size: int,
        max_idle_s: float,
    ) -> None:
        self._spawn = spawn
        self._discard = discard
        self._size = size
        self._max_idle_s = max_idle_s
        self._idle: dict[PoolKey, deque[Live]] = {}
        self._pending: dict[PoolKey, int] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._backoff_until = 0.0
        self._backoff_s = 0.5
        self.last_error: str | None = None
        self._threads = [
            threading.Thread(target=self._fill_loop, name=f"agentguard-sandbox-pool-{i}", daemon=True)
            for i in range(_FILLERS if size else 0)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return self._size

    def want(self, key: PoolKey) -> None:
        """Keep ``key`` warm from now on."""
        if not self._size:
            return
        with self._cond:
            self._idle.setdefault(key, deque())
            self._pending.setdefault(key, 0)
            self._cond.notify_all()

    def take(self, key: PoolKey) -> Live | None:
        """A warm container for ``key`` (removed from the pool), or None."""
        if not self._size:
            return None
        stale: list[Live] = []
        found: Live | None = None
        with self._cond:
            queue = self._idle.setdefault(key, deque())
            self._pending.setdefault(key, 0)
            now = time.monotonic()
            while queue:
                live = queue.popleft()
                if now - live.created > self._max_idle_s:
                    stale.append(live)
                    continue
                found = live
                break
            self._cond.notify_all()
        for live in stale:
            self._discard(live)
        return found

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

    def _next_key(self) -> PoolKey | None:
        for key, queue in self._idle.items():
            if len(queue) + self._pending[key] < self._size:
                return key
        return None

    def _fill_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    wait = self._backoff_until - time.monotonic()
                    key = self._next_key() if wait <= 0 else None
                    if key is not None:
                        break
                    self._cond.wait(wait if wait > 0 else None)
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
            with self._cond:
                self._pending[key] -= 1
                if live is not None:
                    self._backoff_s = 0.5
                    self.last_error = None
                    if self._closed:
                        self._discard(live)
                    else:
                        self._idle[key].append(live)
                self._cond.notify_all()

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

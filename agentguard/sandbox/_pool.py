"""Warm single-use containers, refilled in parallel in the background, and the background remover."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from agentguard.sandbox._container import Live, PoolKey

__all__ = ["Remover", "WarmPool"]

log = structlog.get_logger("agentguard.sandbox")

_MAX_BACKOFF_S = 30.0
# How long a caller waits for a container the fillers are already starting before it starts one itself.
_HANDOFF_WAIT_S = 60.0


class Remover:
    """Sees finished containers gone, off the caller's path and without an API call per container.

    A container whose runner sent its end report has exited (or is exiting), and the engine removes
    it itself (auto-remove). ``submit`` only records its id: one listing of this process's containers
    per ``interval_s`` confirms which are gone, and one still there ``grace_s`` later is force-removed.
    ``discard`` force-removes at once (a warm container never used, a container to kill).
    ``drain`` waits until every submitted or discarded container is gone.
    """

    def __init__(
        self,
        remove: Callable[[str], None],
        present: Callable[[], Iterable[str]],
        *,
        grace_s: float = 10.0,
        interval_s: float = 0.1,
        workers: int = 4,
    ) -> None:
        self._remove = remove
        self._present = present
        self._grace_s = grace_s
        self._interval_s = interval_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentguard-sandbox-rm")
        self._removing: set[Future[None]] = set()
        self._watched: dict[str, float] = {}  # container id -> when to force-remove it if still there
        self._cond = threading.Condition()
        self._closed = False
        self._watcher = threading.Thread(
            target=self._watch_loop, name="agentguard-sandbox-watch", daemon=True
        )
        self._watcher.start()

    def submit(self, live: Live) -> None:
        """``live``'s runner reported and exits: the engine removes it; check that it did."""
        live.close_socket()
        with self._cond:
            if self._closed:
                watched = False
            else:
                self._watched[live.id] = time.monotonic() + self._grace_s
                watched = True
                self._cond.notify_all()
        if not watched:
            self._force(live.id)

    def discard(self, live: Live) -> None:
        """Force-remove ``live`` in the background (its runner may still be waiting for code), then close
        its socket: closed first, the runner would read EOF and run any code it had been sent in part."""
        self._force(live.id, live.close_socket)

    def _force(self, cid: str, then: Callable[[], None] | None = None) -> None:
        try:
            future = self._executor.submit(self._run, cid, then)
        except RuntimeError:  # shut down (close() raced a running call): remove inline instead
            self._run(cid, then)
            return
        with self._cond:
            self._removing.add(future)
        future.add_done_callback(self._done)

    def _run(self, cid: str, then: Callable[[], None] | None = None) -> None:
        try:
            self._remove(cid)
        except Exception as exc:  # noqa: BLE001 - logged; `agentguard sandbox reap` catches leftovers
            log.warning("sandbox.remove_failed", container=cid, error=str(exc))
        finally:
            if then is not None:
                then()

    def _done(self, future: Future[None]) -> None:
        with self._cond:
            self._removing.discard(future)
            self._cond.notify_all()

    def _watch_loop(self) -> None:
        listed = 0.0
        while True:
            with self._cond:
                while not self._watched and not self._closed:
                    self._cond.wait()
                if not self._watched:
                    return
                # A poll interval, not synchronisation: at most one listing per interval, however
                # many containers finish in it.
                while (left := listed + self._interval_s - time.monotonic()) > 0 and not self._closed:
                    self._cond.wait(left)
            listed = time.monotonic()
            try:
                present = set(self._present())
            except Exception as exc:  # noqa: BLE001 - the engine hiccuped: try again next round
                log.warning("sandbox.list_failed", error=str(exc))
                present = None
            overdue = []
            now = time.monotonic()
            with self._cond:
                for cid, deadline in list(self._watched.items()):
                    if present is not None and cid not in present:
                        del self._watched[cid]
                    elif now >= deadline:
                        overdue.append(cid)
                self._cond.notify_all()
            for cid in overdue:
                self._force(cid)  # registered as removing before it stops being watched: drain sees it
                with self._cond:
                    del self._watched[cid]

    def pending(self) -> int:
        with self._cond:
            return len(self._watched) + len(self._removing)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every submitted and discarded container is gone; True when none is left."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._watched or self._removing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        self.drain()
        with self._cond:
            self._closed = True
            watched = list(self._watched)
            self._watched.clear()
            self._cond.notify_all()
        self._watcher.join(timeout=30)
        for cid in watched:  # still there after drain's timeout: remove them now
            self._force(cid)
        self._executor.shutdown(wait=True)


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

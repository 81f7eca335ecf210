"""The background remover: used containers seen gone (the engine's destroy events, a listing as
fallback) and the ones that must go now force-removed, off the callers' path."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import structlog

from agentguard.sandbox._container import Live

__all__ = ["DestroyedStream", "EngineDestroyed", "Remover"]

log = structlog.get_logger("agentguard.sandbox")

_MAX_BACKOFF_S = 30.0


class DestroyedStream(Protocol):
    """Ids of containers as the engine reports them removed; ``close`` (from another thread) ends it."""

    def __iter__(self) -> Iterator[str]: ...

    def close(self) -> None: ...


class Remover:
    """Sees finished containers gone, off the caller's path and without an API call per container.

    A container whose runner sent its end report has exited (or is exiting), and the engine removes
    it itself (auto-remove). ``submit`` only records its id. With ``destroyed`` (a stream of the ids
    the engine reports removed: its "destroy" events), each is confirmed as the engine reports it and
    a listing of this process's containers is only the fallback, for one not reported within
    ``fallback_s`` (a dropped stream); without it, one listing per ``interval_s`` confirms them.
    One still there ``grace_s`` later is force-removed. ``discard`` force-removes at once (a warm
    container never used, a container to kill). ``drain`` waits until every submitted or discarded
    container is gone.
    """

    def __init__(
        self,
        remove: Callable[[str], None],
        present: Callable[[], Iterable[str]],
        *,
        destroyed: Callable[[], DestroyedStream] | None = None,
        grace_s: float = 10.0,
        interval_s: float = 0.1,
        fallback_s: float = 5.0,
        workers: int = 4,
    ) -> None:
        self._remove = remove
        self._present = present
        self._grace_s = grace_s
        self._interval_s = interval_s
        self._fallback_s = fallback_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentguard-sandbox-rm")
        self._removing: set[Future[None]] = set()
        # container id -> (when it was submitted, when to force-remove it if still there)
        self._watched: dict[str, tuple[float, float]] = {}
        # Reported destroyed before its submit: (id -> when), kept for ``grace_s``.
        self._gone: dict[str, float] = {}
        self._stream: DestroyedStream | None = None
        self._listening = False  # the engine's destroy events are being read
        self._cond = threading.Condition()
        self._closed = False
        self._watcher = threading.Thread(
            target=self._watch_loop, name="agentguard-sandbox-watch", daemon=True
        )
        self._watcher.start()
        self._listener: threading.Thread | None = None
        if destroyed is not None:
            self._listener = threading.Thread(
                target=self._listen_loop, args=(destroyed,), name="agentguard-sandbox-events", daemon=True
            )
            self._listener.start()

    def submit(self, live: Live) -> None:
        """``live``'s runner reported and exits: the engine removes it; check that it did."""
        live.close_socket()
        with self._cond:
            if self._closed:
                watched = False
            elif self._gone.pop(live.id, None) is not None:
                return  # the engine reported it removed already
            else:
                now = time.monotonic()
                self._watched[live.id] = (now, now + self._grace_s)
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

    def _listen_loop(self, destroyed: Callable[[], DestroyedStream]) -> None:
        """Confirm removals as the engine reports them; reconnect (listing meanwhile) if the stream ends."""
        backoff = 0.5
        while True:
            try:
                stream = destroyed()
            except Exception as exc:  # noqa: BLE001 - the listing confirms removals meanwhile
                log.warning("sandbox.events_failed", error=str(exc))
                stream = None
            with self._cond:
                if self._closed:
                    break
                if stream is not None:
                    self._stream, self._listening = stream, True
            if stream is not None:
                backoff = 0.5
                with contextlib.suppress(Exception):  # a dropped stream: reconnect below
                    for cid in stream:
                        self._destroyed(cid)
            with self._cond:
                self._listening = False
                self._cond.notify_all()  # the watcher lists at its own pace again
                until = time.monotonic() + backoff  # reconnect pacing, not synchronisation
                while not self._closed and (left := until - time.monotonic()) > 0:
                    self._cond.wait(left)
                if self._closed:
                    break
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _destroyed(self, cid: str) -> None:
        now = time.monotonic()
        with self._cond:
            if self._watched.pop(cid, None) is None:
                self._gone[cid] = now + self._grace_s  # its submit may come after the engine's report
                if len(self._gone) > 4096:
                    self._gone = {k: v for k, v in self._gone.items() if v > now}
            else:
                self._cond.notify_all()

    def _watch_loop(self) -> None:
        listed = 0.0
        while True:
            with self._cond:
                while True:
                    while not self._watched and not self._closed:
                        self._cond.wait()
                    if not self._watched:
                        return
                    # A poll interval, not synchronisation: at most one listing per interval, however
                    # many containers finish in it; while the engine reports removals, only for one
                    # it has not reported within fallback_s.
                    now = time.monotonic()
                    due = listed + self._interval_s
                    if self._listening:
                        oldest = min(since for since, _ in self._watched.values())
                        soonest_force = min(force for _, force in self._watched.values())
                        due = max(due, min(oldest + self._fallback_s, soonest_force))
                    if due <= now or self._closed:
                        break
                    self._cond.wait(due - now)
            listed = time.monotonic()
            try:
                present = set(self._present())
            except Exception as exc:  # noqa: BLE001 - the engine hiccuped: try again next round
                log.warning("sandbox.list_failed", error=str(exc))
                present = None
            overdue = []
            now = time.monotonic()
            with self._cond:
                for cid, (_, deadline) in list(self._watched.items()):
                    if present is not None and cid not in present:
                        del self._watched[cid]
                    elif now >= deadline:
                        overdue.append(cid)
                self._gone = {k: v for k, v in self._gone.items() if v > now}
                self._cond.notify_all()
            for cid in overdue:
                self._force(cid)  # registered as removing before it stops being watched: drain sees it
                with self._cond:
                    self._watched.pop(cid, None)

    @property
    def listening(self) -> bool:
        """Whether the engine's destroy events are being read (else removals are confirmed by listing)."""
        with self._cond:
            return self._listening

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
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # ends the listener's read
                stream.close()
        self._watcher.join(timeout=30)
        if self._listener is not None:
            # Short: a stream that cannot be cancelled (an ssh:// engine) ends with the process.
            self._listener.join(timeout=1.0)
        for cid in watched:  # still there after drain's timeout: remove them now
            self._force(cid)
        self._executor.shutdown(wait=True)


class EngineDestroyed:
    """Container ids out of the engine's "destroy" events (a docker-py ``events(decode=True)`` stream)."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def __iter__(self) -> Iterator[str]:
        for event in self._events:
            cid = event.get("id") or (event.get("Actor") or {}).get("ID")
            if isinstance(cid, str) and cid:
                yield cid

    def close(self) -> None:
        self._events.close()

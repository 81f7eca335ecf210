"""The writer: ``AuditLog`` appends hash-chained records, safely across threads, processes and crashes.

A record is stamped and redacted in the caller's thread, outside every lock, then handed to the
log's writer thread through a bounded queue (group commit). The writer owns the file: it takes
whatever has queued up, chains, writes and fsyncs it as one batch (``ChainFile``), and wakes the
callers waiting for it. In ``fsync`` mode ``record`` waits for its own record's fsync (callers that
arrive together share one); in ``batch`` mode it returns once the record is queued.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from structlog.typing import EventDict

from agentguard.audit import _lifecycle
from agentguard.audit._chain import RESERVED, iso_ns
from agentguard.audit._file import ChainFile
from agentguard.audit._lifecycle import DEFERRED as _DEFERRED
from agentguard.audit._recover import ACKNOWLEDGED, RECOVERED, SEGMENT
from agentguard.audit._redact import redact_event, redact_processor
from agentguard.errors import AuditError
from agentguard.settings import Durability

__all__ = ["LINGER_S", "AuditLog"]

# Batch mode: how long the writer lets records gather before writing them (a kill -9 loses at
# most the records of this window, and never more than ``batch_size``).
LINGER_S = 0.005
IDLE_EXIT_S = 5.0  # the writer thread ends after this long without records

# The log's own events: a segment, a crash repair, a person's acknowledgement. Written by any caller
# (an approval store hands over owed records by their stored event name), one would count in verify.
_OWN_EVENTS = frozenset({SEGMENT, RECOVERED, ACKNOWLEDGED})

_get_ident = threading.get_ident
_time_ns = time.time_ns


class _Mutex:
    """A re-entrant lock that knows which thread holds it: a signal handler must not flush a log
    the interrupted code is in the middle of queueing to (see ``_lifecycle``). It is also the lock
    of the log's condition, so it gives up and restores its holder around ``wait``."""

    __slots__ = ("_depth", "_lock", "holder")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.holder: int | None = None

    def acquire(self) -> None:
        self._lock.acquire()
        self.holder = _get_ident()
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth:
            self._lock.release()
            return
        self.holder = None
        self._lock.release()
        if _DEFERRED:  # a signal arrived while this thread held the log
            _lifecycle.deliver_deferred()

    __enter__ = acquire

    def __exit__(self, *_: object) -> None:
        self.release()

    # the protocol threading.Condition uses on its lock
    def _release_save(self) -> tuple[Any, int]:
        depth, self._depth, self.holder = self._depth, 0, None
        return self._lock._release_save(), depth  # type: ignore[attr-defined]

    def _acquire_restore(self, saved: tuple[Any, int]) -> None:
        self._lock._acquire_restore(saved[0])  # type: ignore[attr-defined]
        self._depth, self.holder = saved[1], threading.get_ident()

    def _is_owned(self) -> bool:
        return self.holder == threading.get_ident()


class AuditLog:
    """A hash-chained JSON Lines audit log; satisfies ``agentguard.pipeline.AuditSink``.

    ``Durability.FSYNC``: each record is on disk (and the checkpoint updated) before ``record``
    returns. ``Durability.BATCH``: ``record`` returns once the record is queued; the writer thread
    writes what has queued with one fsync, at once, and at most ``batch_size`` records wait
    (``record`` waits for room beyond that, never drops one). They are also flushed on ``flush()``,
    ``close()``, at interpreter exit and on SIGTERM/SIGHUP (see ``_lifecycle``). Any failure to
    write raises ``AuditError`` (or, at exit, is reported on stderr with a non-zero exit status),
    never a silent drop.
    """

    def __init__(
        self, path: Path, *, durability: Durability = Durability.FSYNC, batch_size: int = 4096
    ) -> None:
        if batch_size < 1:
            raise AuditError(f"{path}: batch_size must be at least 1", path=str(path))
        self.path = Path(path)
        self.durability = Durability(durability)
        self._waits = self.durability is Durability.FSYNC
        self.batch_size = batch_size
        self._early = max(1, batch_size // 2)  # queued records that end the writer's lingering
        self._file = ChainFile(self.path, self._prepare)
        self._writes_own = False  # set by ``acknowledge`` on the log it opens for that
        self._reset_queue()
        self._closed = False
        with self._mutex:
            try:
                self._file.write([], force=True)  # repairs a torn tail / stale checkpoint right away
            except BaseException:
                self._closed = True
                self._file.close()
                raise
        _lifecycle.track(self, buffers=self.durability is Durability.BATCH)

    def _reset_queue(self) -> None:
        self._mutex = _Mutex()
        self._cond = threading.Condition(self._mutex)  # type: ignore[arg-type]
        self._queue: collections.deque[EventDict] = collections.deque()
        self._inflight = 0  # records the writer has taken and is writing
        self._accepted = 0  # records queued so far; a record's ticket is its number
        self._durable = 0  # records written and fsynced so far (in queue order)
        self._failure: AuditError | None = None  # the last write failed; the writer waits for a retry
        self._failures = 0  # how many writes failed: a waiter seeing this change gives up
        self._retry = False  # a caller asked the writer to try again after a failure
        self._stopping = False
        self._writer: threading.Thread | None = None
        self._writer_idle = False
        self._urgent = False  # someone waits for the queue to be written: no lingering

    # -- public API --------------------------------------------------------------------

    def record(self, event: str, /, **fields: Any) -> None:
        """Append one record. Raises ``AuditError`` if it cannot be made durable (fsync mode), or if
        the log has failed to write and still cannot (batch mode: the record stays queued)."""
        if self._closed:
            raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
        if not RESERVED.isdisjoint(fields):
            fields = {_free_key(k, fields): v for k, v in fields.items()}
        if event in _OWN_EVENTS and not self._writes_own:
            event = f"{event}_"  # only the log (and ``acknowledge``) writes these; verify reads them
        try:
            # Stamping and redaction run in the caller's thread before any lock is taken: redacting
            # a large argument must not hold up other writers (docs/audit.md). ``fields`` is this
            # call's own dict (from ``**``), so it becomes the record without a copy. What _prepare
            # does, cheaper: the stamp is the clock's integer (the writer formats it, ``seal_chain``),
            # and the two bookkeeping keys are added after the processor's loop, which leaves ``ts``
            # as it is and only redacts ``event``.
            prepared = redact_processor(None, "info", fields)
            prepared["event"] = redact_event(event)
            prepared["ts"] = _time_ns()
        except Exception as exc:  # a processor must never lose a record silently
            raise AuditError(
                f"{self.path}: cannot prepare audit record {event!r}: {exc}", path=str(self.path)
            ) from exc
        # From here on only queueing (and, in fsync mode, waiting), holding the condition's lock:
        # taken directly, as ``with self._cond`` would, without its two extra Python frames.
        mutex = self._mutex
        mutex._lock.acquire()  # mutex.acquire(), inline
        mutex.holder = _get_ident()
        mutex._depth += 1
        try:
            if self._closed:
                raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
            queue = self._queue
            while len(queue) + self._inflight >= self.batch_size and self._failure is None:
                self._wake_writer(urgent=True)
                self._cond.wait()  # backpressure: the writer is behind; never drop a record
                if self._closed:
                    raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
            queue.append(prepared)
            self._accepted += 1
            if self._failure is None:
                if self._writer_idle or self._writer is None:
                    self._wake_writer()
                elif len(queue) == self._early:
                    self._wake_writer(urgent=True)  # enough for a batch: stop lingering
                if not self._waits:
                    return
            self._await(self._accepted)
        finally:
            # mutex.release(), inline (a Python call per record)
            mutex._depth -= 1
            if mutex._depth:
                mutex._lock.release()
            else:
                mutex.holder = None
                mutex._lock.release()
                if _DEFERRED:  # a signal arrived while this thread held the log
                    _lifecycle.deliver_deferred()

    def flush(self) -> None:
        """Write queued records and fsync them; raises ``AuditError`` on failure (they stay queued)."""
        with self._cond:
            if not self._closed:
                self._await(self._accepted)

    def close(self) -> None:
        """Flush and release the file. Idempotent."""
        with self._cond:
            if self._closed:
                return
            try:
                self._await(self._accepted)
            finally:
                self._closed = True
                self._stopping = True
                _lifecycle.untrack(self)
                self._cond.notify_all()
                writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        self._file.close()

    @property
    def buffered(self) -> int:
        """Records accepted but not yet written."""
        with self._cond:
            return len(self._queue) + self._inflight

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, durability={self.durability.value!r})"

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _prepare(event: str, fields: dict[str, Any]) -> EventDict:
        fields["ts"] = iso_now()
        fields["event"] = event
        return redact_processor(None, "info", fields)

    def _await(self, ticket: int) -> None:
        """Holding the condition: wait until the first ``ticket`` records are durable."""
        if self._durable >= ticket:
            return
        if self._failure is not None:
            self._retry = True
        failures = self._failures
        self._wake_writer(urgent=True)
        while self._durable < ticket:
            if self._failures != failures:
                assert self._failure is not None
                raise self._failure
            if self._closed and self._writer is None:
                raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
            self._cond.wait()

    def _wake_writer(self, *, urgent: bool = False) -> None:
        """Holding the condition: make sure the writer runs; ``urgent`` cuts its lingering short."""
        if urgent:
            self._urgent = True
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(
                target=self._run, name=f"agentguard-audit {self.path.name}", daemon=True
            )
            self._writer_idle = False
            self._writer.start()
        elif self._writer_idle or urgent:
            self._writer_idle = False
            self._cond.notify_all()

    def _run(self) -> None:
        """The writer thread: write whatever has queued, as one batch, until the log closes (or has
        been idle for ``IDLE_EXIT_S``: the next record starts a new one, and a log nobody closes
        is not kept alive by its thread)."""
        while True:
            with self._cond:
                while not self._queue or (self._failure is not None and not self._retry):
                    if self._stopping or (self._writer_idle and not self._queue):
                        self._writer = None
                        self._writer_idle = False
                        self._cond.notify_all()
                        return
                    self._writer_idle = True
                    self._cond.wait(IDLE_EXIT_S)
                self._writer_idle = False
                if not self._waits:
                    self._linger()
                self._urgent = self._retry = False
                batch = list(self._queue)
                self._queue.clear()
                self._inflight = len(batch)
            failure: AuditError | None = None
            try:
                self._file.write(batch)
            except AuditError as exc:
                failure = exc
            except Exception as exc:  # noqa: BLE001 - whatever it was, the callers must hear of it
                failure = AuditError(f"{self.path}: cannot write audit log: {exc}", path=str(self.path))
            with self._cond:
                self._inflight = 0
                if failure is None:
                    self._durable += len(batch)
                    self._failure = None
                else:  # back to the front of the queue, in order; written on the next retry
                    self._queue.extendleft(reversed(batch))
                    self._failure = failure
                    self._failures += 1
                self._cond.notify_all()
            _release(batch)
            del batch

    def _linger(self) -> None:
        """Batch mode, holding the condition: let a group gather for up to ``LINGER_S`` (or until
        half the queue is full, or someone waits), so a slow trickle of calls does not cost a
        write and two fsyncs per record."""
        deadline = time.monotonic() + LINGER_S
        while not (self._urgent or self._retry or self._stopping) and len(self._queue) < self._early:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _held_here(self) -> bool:
        return self._mutex.holder == threading.get_ident()

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent owns the queued records (and the writer thread, which the
        child does not have), and the file is opened afresh (see ``ChainFile.forget``)."""
        self._reset_queue()
        self._file.forget()


# Freeing a written batch (thousands of record dicts) holds the GIL like sealing does: ~370 us for a
# 5 ms batch of calls, all of it landing on whichever call was running. Freed a run at a time instead.
_FREE_RUN = 128


def _release(batch: list[EventDict]) -> None:
    """Drop the writer's references to a written batch a run at a time, letting callers in between."""
    sleep = time.sleep
    while len(batch) > _FREE_RUN:
        del batch[-_FREE_RUN:]
        sleep(0)
    batch.clear()


def iso_now() -> str:
    """The time now as the log writes it (``iso_ns``): for records stamped as they are prepared."""
    return iso_ns(_time_ns())


def _free_key(key: str, fields: dict[str, Any]) -> str:
    """A caller's field named like a bookkeeping key (``seq``, ``hash``...) is kept as ``seq_``."""
    if key not in RESERVED:
        return key
    while key in RESERVED or key in fields:
        key += "_"
    return key

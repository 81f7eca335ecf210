"""The writer: ``AuditLog`` appends hash-chained records, safely across threads, processes and crashes.

Records pass through two chains of plain (structlog-style) processors. At ``record()`` time, in
the caller's thread and outside every lock: timestamp, then redaction. At flush time, holding an
exclusive ``flock`` on the file: chain link (``seq``/``prev``), then render (canonical JSON +
hash). The chain position is only known under the lock: another process may have appended since.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict

from agentguard.audit import _lifecycle
from agentguard.audit._chain import (
    EMPTY,
    GENESIS,
    RESERVED,
    SUFFIX_LEN,
    Checkpoint,
    CheckpointError,
    Mark,
    canonical,
    read_checkpoint,
    remove_stale_temps,
    seal,
    write_checkpoint,
)
from agentguard.audit._recover import SEGMENT, examine
from agentguard.audit._redact import redact_processor
from agentguard.errors import AuditError
from agentguard.settings import Durability

__all__ = ["AuditLog"]

_logger = logging.getLogger("agentguard.audit")


class _Pending:
    """Stamped, redacted event dicts waiting to be sealed and written."""

    def __init__(self) -> None:
        self.items: list[EventDict] = []


class _Mutex:
    """A re-entrant lock that knows which thread holds it: a signal handler must not flush a log
    the interrupted code is in the middle of writing (see ``_lifecycle``)."""

    __slots__ = ("_depth", "_lock", "holder")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.holder: int | None = None

    def __enter__(self) -> None:
        self._lock.acquire()
        self.holder = threading.get_ident()
        self._depth += 1

    def __exit__(self, *_: object) -> None:
        self._depth -= 1
        outermost = self._depth == 0
        if outermost:
            self.holder = None
        self._lock.release()
        if outermost and _lifecycle.deferred_signal():
            _lifecycle.deliver_deferred()


class _Lines:
    """Wrapped logger of the second stage: collects finished lines."""

    def __init__(self) -> None:
        self.items: list[bytes] = []

    def info(self, line: bytes) -> None:
        self.items.append(line)


class _ChainState:
    """Where the chain continues: next ``seq`` and the hash the next record links to."""

    def __init__(self) -> None:
        self.seq = 0
        self.prev = GENESIS

    def link(self, _logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        """Processor: give the record its place in the chain."""
        event_dict["seq"] = self.seq
        event_dict["prev"] = self.prev
        return event_dict

    def render(self, _logger: Any, _method: str, event_dict: EventDict) -> bytes:
        """Processor: canonical JSON, hashed, as one line; advances the chain."""
        line, digest = seal(canonical(event_dict))
        self.seq += 1
        self.prev = digest
        return line


def _now_tag() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class AuditLog:
    """A hash-chained JSON Lines audit log; satisfies ``agentguard.pipeline.AuditSink``.

    ``Durability.FSYNC``: each record is on disk (and the checkpoint updated) before ``record``
    returns. ``Durability.BATCH``: up to ``batch_size`` records are buffered and written with one
    fsync; they are flushed on ``flush()``, ``close()``, at interpreter exit and on SIGTERM/SIGHUP
    (see ``_lifecycle``). Any failure to write raises ``AuditError`` (or, at exit, is reported on
    stderr with a non-zero exit status), never a silent drop.
    """

    def __init__(
        self, path: Path, *, durability: Durability = Durability.FSYNC, batch_size: int = 64
    ) -> None:
        if batch_size < 1:
            raise AuditError(f"{path}: batch_size must be at least 1", path=str(path))
        self.path = Path(path)
        self.durability = Durability(durability)
        self.batch_size = 1 if self.durability is Durability.FSYNC else batch_size
        self._mutex = _Mutex()
        self._fd: int | None = None
        self._end = -1  # byte offset just after the last record we know of; -1 = resync needed
        self._checkpoint: Checkpoint | None = None  # the checkpoint as we last wrote or accepted it
        self._chain = _ChainState()
        self._pending = _Pending()
        self._lines = _Lines()
        self._closed = False
        # Stamping and redaction run in the caller's thread before any lock is taken: redacting a
        # large argument must not hold up other writers (docs/audit.md).
        self._prepare_chain = (
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            redact_processor,
        )
        # The sealing processors run as a plain chain under the file lock, where each record's
        # place is known; a second BoundLogger there only added overhead per record.
        self._seal_chain = (self._chain.link, self._chain.render)
        with self._mutex:
            self._open()
            try:
                self._flush_locked(force=True)  # repairs a torn tail / stale checkpoint right away
            except BaseException:
                self._closed = True
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                raise
        _lifecycle.track(self, buffers=self.durability is Durability.BATCH)

    # -- public API --------------------------------------------------------------------

    def record(self, event: str, /, **fields: Any) -> None:
        """Append one record. Raises ``AuditError`` if it cannot be made durable (fsync mode)."""
        safe = fields
        if RESERVED.intersection(fields):
            safe = {_free_key(k, fields): v for k, v in fields.items()}
        if self._closed:
            raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
        try:
            prepared = self._prepare(event, safe)
        except Exception as exc:  # a processor must never lose a record silently
            raise AuditError(
                f"{self.path}: cannot prepare audit record {event!r}: {exc}", path=str(self.path)
            ) from exc
        with self._mutex:  # from here on only chaining and writing
            if self._closed:
                raise AuditError(f"{self.path}: audit log is closed", path=str(self.path))
            self._pending.items.append(prepared)
            if len(self._pending.items) >= self.batch_size:
                self._flush_locked()

    def flush(self) -> None:
        """Write buffered records and fsync them; raises ``AuditError`` on failure (they stay buffered)."""
        with self._mutex:
            if not self._closed:
                self._flush_locked()

    def close(self) -> None:
        """Flush and release the file. Idempotent."""
        with self._mutex:
            if self._closed:
                return
            try:
                self._flush_locked()
            finally:
                self._closed = True
                _lifecycle.untrack(self)
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    @property
    def buffered(self) -> int:
        """Records accepted but not yet written (batch mode)."""
        return len(self._pending.items)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, durability={self.durability.value!r})"

    # -- internals ---------------------------------------------------------------------

    def _prepare(self, event: str, fields: dict[str, Any]) -> EventDict:
        event_dict: EventDict = dict(fields)
        event_dict["event"] = event
        for processor in self._prepare_chain:
            event_dict = processor(None, "info", event_dict)
        return event_dict

    def _held_here(self) -> bool:
        return self._mutex.holder == threading.get_ident()

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent owns the buffered records, and a lock taken through the
        inherited file description would not exclude the parent, so start with a fresh one."""
        self._mutex = _Mutex()
        self._pending.items.clear()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._end = -1

    def _error(self, what: str, exc: OSError) -> AuditError:
        return AuditError(f"{self.path}: {what}: {exc.strerror or exc}", path=str(self.path), errno=exc.errno)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._error("cannot open audit log", exc) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise AuditError(f"{self.path}: audit log is not a regular file", path=str(self.path))
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self._end = -1

    def _lock(self) -> int:
        """Take the exclusive lock on the file the path names now (it may have been replaced)."""
        for _ in range(10):
            assert self._fd is not None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                here = os.fstat(self._fd)
                there = os.stat(self.path)
            except FileNotFoundError:
                there = None
            except OSError as exc:
                raise self._error("cannot lock audit log", exc) from exc
            if there is not None and (there.st_ino, there.st_dev) == (here.st_ino, here.st_dev):
                return self._fd
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._open()  # moved or deleted behind our back: follow the path
        raise AuditError(f"{self.path}: audit log keeps being replaced; cannot lock it", path=str(self.path))

    def _flush_locked(self, *, force: bool = False) -> None:
        if not self._pending.items and not force:
            return
        if self._fd is None:
            self._open()
        fd = self._lock()
        try:
            if force:  # opening: no other writer is mid-checkpoint while we hold the lock
                remove_stale_temps(self.path)
            size = os.fstat(fd).st_size
            if not self._tail_is_ours(fd, size):
                size = self._resync(fd, size)
            if not self._pending.items:
                return
            self._write_batch(fd, size)
        except OSError as exc:
            self._end = -1
            raise self._error("cannot write audit log", exc) from exc
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _tail_is_ours(self, fd: int, size: int) -> bool:
        """Whether the file still ends with the record we wrote last (nobody appended since), and
        the checkpoint is still the one we wrote (a rolled-back checkpoint is judged, not overwritten)."""
        if self._end < 0 or size != self._end:
            return False
        try:
            if read_checkpoint(self.path) != self._checkpoint:
                return False
        except CheckpointError:
            return False
        if size == 0:
            return self._chain.seq == 0
        if size < SUFFIX_LEN:
            return False
        tail = os.pread(fd, SUFFIX_LEN - 9, size - (SUFFIX_LEN - 9))
        return tail[:64] == self._chain.prev.encode("ascii") and tail[-3:] == b'"}\n'

    def _write_batch(self, fd: int, size: int) -> None:
        seq, prev = self._chain.seq, self._chain.prev
        committed = Mark(seq - 1, prev, size) if seq else EMPTY
        self._lines.items.clear()
        try:
            for event_dict in self._pending.items:
                sealed: Any = event_dict
                for processor in self._seal_chain:
                    sealed = processor(None, "info", sealed)
                self._lines.info(sealed)
        except Exception as exc:
            self._chain.seq, self._chain.prev = seq, prev
            raise AuditError(f"{self.path}: cannot render audit record: {exc}", path=str(self.path)) from exc
        data = b"".join(self._lines.items)
        target = Mark(self._chain.seq - 1, self._chain.prev, size + len(data))
        try:
            # Announce the batch first (durably), so a crash in the middle of it is recognisable
            # as one and nothing else can pass for a crash.
            write_checkpoint(self.path, Checkpoint(committed, target))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            self._chain.seq, self._chain.prev = seq, prev
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        self._end = target.end
        self._pending.items.clear()
        self._checkpoint = Checkpoint(target)
        write_checkpoint(self.path, self._checkpoint, sync=False)

    def _resync(self, fd: int, size: int) -> int:
        """Find the real last record, set the chain from it, and judge what happened to the file since
        it was last checkpointed: crash debris is repaired and noted, anything else starts a new
        segment (see ``_recover``). Returns the new size."""
        found = examine(self.path, fd, size, _now_tag())
        self._chain.seq, self._chain.prev = found.tail.seq + 1, found.tail.hash
        self._end = found.tail.end
        self._checkpoint = found.checkpoint  # if it needed a note, the batch carrying the note replaces it
        for note in found.notes:
            if note.event == SEGMENT:
                _logger.error(
                    "%s: %s (%s); starting a new segment: look into it, then run "
                    "`agentguard audit acknowledge --reason ...`",
                    self.path,
                    note.fields["reason"],
                    note.fields["detail"],
                )
        self._pending.items[0:0] = [self._prepare(note.event, note.fields) for note in found.notes]
        return found.tail.end


def _free_key(key: str, fields: dict[str, Any]) -> str:
    """A caller's field named like a bookkeeping key (``seq``, ``hash``...) is kept as ``seq_``."""
    if key not in RESERVED:
        return key
    while key in RESERVED or key in fields:
        key += "_"
    return key

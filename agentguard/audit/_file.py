"""The file side of the writer: chain, lock, check the tail, write and fsync one batch of records.

Only one thread uses a ``ChainFile`` at a time (``AuditLog``'s writer thread, or the opening
thread before it starts). Records arrive stamped and redacted; here, holding an exclusive
``flock`` on the file, each gets its chain link (``seq``/``prev``) and is rendered (canonical
JSON + hash). The chain position is only known under the lock: another process may have
appended since.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from structlog.typing import EventDict

from agentguard.audit._chain import (
    EMPTY,
    GENESIS,
    SUFFIX_LEN,
    Checkpoint,
    CheckpointError,
    Mark,
    read_checkpoint,
    remove_stale_temps,
    seal_chain,
    write_checkpoint,
)
from agentguard.audit._recover import SEGMENT, examine
from agentguard.errors import AuditError

__all__ = ["ChainFile"]

_logger = logging.getLogger("agentguard.audit")

# Sealing holds the GIL; a writer thread sealing thousands of records at once would stall the
# threads making calls for milliseconds. So it lets them in after every few (sleep(0) releases it).
_SEAL_RUN = 64


def _now_tag() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class ChainFile:
    """The audit file as one writer sees it: where the chain continues and what the file should end with."""

    def __init__(self, path: Path, prepare: Callable[[str, dict[str, Any]], EventDict]) -> None:
        self.path = path
        self._prepare = prepare  # for the notes a repair adds (stamped and redacted like any record)
        self._fd: int | None = None
        self._end = -1  # byte offset just after the last record we know of; -1 = resync needed
        self._checkpoint: Checkpoint | None = None  # the checkpoint as we last wrote or accepted it
        self._seq = 0  # the next record's seq
        self._prev = GENESIS  # the hash the next record links to
        self._size = 0  # the file's size when it was last locked
        # The last record this writer wrote: no writer moves or removes a written record, so if it is
        # not where it was, records were cut or rewritten (even with the checkpoint made to match).
        self._known: Mark | None = None

    def write(self, items: list[EventDict], *, force: bool = False) -> None:
        """Chain, write and fsync ``items`` (after any repair notes); raises ``AuditError``.

        ``force`` checks (and repairs) the tail even with nothing to write: done on opening.
        On failure nothing of the batch stays in the file and the chain is where it was.
        """
        if not items and not force:
            return
        if self._fd is None:
            self._open()
        fd = self._lock()
        try:
            if force:  # opening: no other writer is mid-checkpoint while we hold the lock
                remove_stale_temps(self.path)
            size = self._size
            batch = items
            if not self._tail_is_ours(fd, size):
                notes, size = self._resync(fd, size)
                batch = notes + items
            if batch:
                self._write_batch(fd, size, batch)
        except OSError as exc:
            self._end = -1
            raise self._error("cannot write audit log", exc) from exc
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def forget(self) -> None:
        """In a forked child: a lock taken through the inherited file description would not
        exclude the parent, so the next write opens the file afresh."""
        self.close()
        self._end = -1

    # -- internals ---------------------------------------------------------------------

    def _error(self, what: str, exc: OSError) -> AuditError:
        return AuditError(f"{self.path}: {what}: {exc.strerror or exc}", path=str(self.path), errno=exc.errno)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The file itself, never a link: one planted at the path would send the records, and
            # the file they create, wherever it points (a shell profile reads a JSON line as a command).
            fd = os.open(
                self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise AuditError(
                    f"{self.path}: the audit log path is a symbolic link; set audit_path to the file itself",
                    path=str(self.path),
                ) from exc
            raise self._error("cannot open audit log", exc) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise AuditError(f"{self.path}: audit log is not a regular file", path=str(self.path))
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self._end = -1

    def _lock(self) -> int:
        """Take the exclusive lock on the file the path names now (it may have been replaced);
        notes its size."""
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
                self._size = here.st_size
                return self._fd
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._open()  # moved or deleted behind our back: follow the path
        raise AuditError(f"{self.path}: audit log keeps being replaced; cannot lock it", path=str(self.path))

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
            return self._seq == 0
        if size < SUFFIX_LEN:
            return False
        tail = os.pread(fd, SUFFIX_LEN - 9, size - (SUFFIX_LEN - 9))
        return tail[:64] == self._prev.encode("ascii") and tail[-3:] == b'"}\n'

    def _write_batch(self, fd: int, size: int, batch: list[EventDict]) -> None:
        seq, prev = self._seq, self._prev
        committed = Mark(seq - 1, prev, size) if seq else EMPTY
        try:
            lines, prev = seal_chain(batch, seq, prev, _SEAL_RUN)
        except Exception as exc:
            raise AuditError(f"{self.path}: cannot render audit record: {exc}", path=str(self.path)) from exc
        seq += len(batch)
        data = b"".join(lines)
        target = Mark(seq - 1, prev, size + len(data))
        try:
            # Announce the batch first (durably), so a crash in the middle of it is recognisable
            # as one and nothing else can pass for a crash.
            write_checkpoint(self.path, Checkpoint(committed, target))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        self._seq, self._prev = seq, prev
        self._end = target.end
        self._known = target
        self._checkpoint = Checkpoint(target)
        write_checkpoint(self.path, self._checkpoint, sync=False)

    def _resync(self, fd: int, size: int) -> tuple[list[EventDict], int]:
        """Find the real last record, set the chain from it, and judge what happened to the file since
        it was last checkpointed: crash debris is repaired and noted, anything else starts a new
        segment (see ``_recover``). Returns the notes to write first and the new size."""
        found = examine(self.path, fd, size, _now_tag(), self._known)
        self._seq, self._prev = found.tail.seq + 1, found.tail.hash
        self._end = found.tail.end
        self._checkpoint = found.checkpoint  # if it needed a note, the batch carrying the note replaces it
        for note in found.notes:
            if note.event == SEGMENT:
                _logger.error(
                    "%s: %s (%s); starting a new segment: look into it, then run "
                    "`agentguard audit acknowledge --segment SEQ --reason ...`",
                    self.path,
                    note.fields["reason"],
                    note.fields["detail"],
                )
        return [self._prepare(note.event, dict(note.fields)) for note in found.notes], found.tail.end

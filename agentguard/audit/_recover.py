"""What a writer does when the file does not end where it last left it: crash or tampering?

A crash (kill -9, power cut) can only leave what the write protocol allows (see ``Checkpoint``):
torn bytes inside the batch that was being written, whole records of that batch with no
checkpoint after them, or nothing at all. Those are repaired and noted (``audit.recovered``).
Anything else (records cut off, a forged append, a rewritten tail, a rolled-back, missing or
garbled checkpoint) no crash produces. The writer then starts a new segment: it writes an
``audit.segment`` record with the evidence and carries on the chain, and ``verify`` fails until a
person acknowledges the segment (``audit.acknowledged``, written by ``agentguard audit acknowledge``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agentguard.audit._chain import (
    EMPTY,
    Checkpoint,
    CheckpointError,
    LineFormatError,
    Mark,
    parse_line,
    read_checkpoint,
    split_line,
)
from agentguard.errors import AuditIntegrityError

__all__ = ["ACKNOWLEDGED", "RECOVERED", "SEGMENT", "Examined", "Note", "examine"]

_TAIL_CHUNK = 64 * 1024

RECOVERED = "audit.recovered"
SEGMENT = "audit.segment"
ACKNOWLEDGED = "audit.acknowledged"

_DETAIL = {
    "checkpoint_ahead": "records the checkpoint names are gone: cut off the end, or the log was deleted or "
    "replaced",
    "checkpoint_behind": "records follow the checkpointed one that no unfinished batch explains: "
    "a forged append or a rolled-back checkpoint",
    "checkpoint_mismatch": "the checkpointed record was rewritten (its hash differs)",
    "checkpoint_missing": "the checkpoint file beside a non-empty log is gone",
    "checkpoint_invalid": "the checkpoint file cannot be read",
    "torn_tail": "bytes after the last complete record that no unfinished batch explains",
    "records_gone": "a record this writer wrote or read is no longer where it was: records cut off or "
    "rewritten with the checkpoint made to match, or the log replaced or deleted with its checkpoint",
}


@dataclass(frozen=True, slots=True)
class Note:
    """A record the writer puts first in its next batch: a crash repair or a new segment."""

    event: str
    fields: dict[str, Any]


def _mark(mark: Mark | None) -> dict[str, Any] | None:
    return None if mark is None else {"seq": mark.seq, "hash": mark.hash, "end": mark.end}


def segment(reason: str, **fields: Any) -> Note:
    """A new segment: something no crash produces; ``verify`` fails until it is acknowledged."""
    return Note(SEGMENT, {"reason": reason, "detail": _DETAIL[reason], **fields})


@dataclass(frozen=True, slots=True)
class Examined:
    """The file's real end (torn bytes already moved aside), the checkpoint, and what to note."""

    tail: Mark
    checkpoint: Checkpoint | None
    notes: list[Note]


def examine(path: Path, fd: int, size: int, tag: str, known: Mark | None = None) -> Examined:
    """Under the exclusive lock: move torn bytes aside, find the last record, judge both against
    the checkpoint and against ``known`` (the last record this writer wrote or read, which no writer
    moves or removes). Raises ``AuditIntegrityError`` if the last line is not an audit record."""
    try:
        cp, problem = read_checkpoint(path), None
    except CheckpointError as exc:
        cp, problem = None, str(exc)
    notes: list[Note] = []
    torn_at = _rfind_newline(fd, size, size) + 1
    if torn_at < size:
        crash = torn_is_crash(cp, torn_at, size)
        side = move_torn(path, fd, torn_at, size, tag)
        fields = {"side_file": str(side), "offset": torn_at, "length": size - torn_at}
        notes.append(
            Note(RECOVERED, {"reason": "torn_tail", **fields}) if crash else segment("torn_tail", **fields)
        )
        size = torn_at
    tail = _last_record(path, fd, size)
    note = judge_tail(cp, problem, tail, fd)
    if note is not None:
        notes.append(note)
    if known is not None and not any(n.event == SEGMENT for n in notes) and not _holds(fd, size, known):
        evidence = {
            "known": _mark(known),
            "checkpoint": _mark(cp.committed if cp else None),
            "tail": _mark(tail),
        }
        notes.append(segment("records_gone", **evidence))
    return Examined(tail, cp, notes)


def _holds(fd: int, size: int, known: Mark) -> bool:
    """Whether the file still ends a line with ``known``'s hash at ``known.end``: records are only
    ever appended, and crash repair cuts nothing before the last newline, so a record stays put."""
    if not 67 <= known.end <= size:
        return False
    found = os.pread(fd, 67, known.end - 67)
    return found == known.hash.encode("ascii") + b'"}\n'


def _last_record(path: Path, fd: int, size: int) -> Mark:
    if size == 0:
        return EMPTY
    start = _rfind_newline(fd, size - 1, size) + 1
    try:
        parsed = parse_line(os.pread(fd, size - start, start))
    except LineFormatError as exc:
        raise AuditIntegrityError(
            f"{path}: the last record (byte offset {start}) is not a valid audit record "
            f"({exc}); run `agentguard audit verify {path}` and move the file aside",
            path=str(path),
            offset=start,
        ) from exc
    return Mark(parsed.record["seq"], parsed.stated_hash, size)


def torn_is_crash(cp: Checkpoint | None, offset: int, size: int) -> bool:
    """Whether torn bytes at ``offset..size`` lie inside the batch a writer had announced."""
    return cp is not None and cp.pending is not None and cp.committed.end <= offset and size <= cp.pending.end


def judge_tail(cp: Checkpoint | None, problem: str | None, tail: Mark, fd: int) -> Note | None:
    """Compare the file's real end (``tail``, torn bytes already cut) with the checkpoint.

    ``None``: consistent. A ``RECOVERED`` note: what a crash leaves. A ``SEGMENT`` note: anything else.
    """
    if problem is not None:
        return segment("checkpoint_invalid", problem=problem, tail=_mark(tail))
    if cp is None:
        return None if tail.seq < 0 else segment("checkpoint_missing", tail=_mark(tail))
    committed, pending = cp.committed, cp.pending
    evidence = {"checkpoint": _mark(committed), "pending": _mark(pending), "tail": _mark(tail)}
    if tail == committed:
        return None
    if (
        pending is not None
        and committed.seq < tail.seq <= pending.seq
        and committed.end < tail.end <= pending.end
    ):
        whole = tail == pending
        if whole or (tail.seq < pending.seq and _links(fd, committed, tail)):
            # The writer died after writing (some of) its batch and before moving the checkpoint.
            return Note(RECOVERED, {"reason": "checkpoint_behind", **evidence})
    if tail.seq < committed.seq or (tail.seq == committed.seq and tail.end < committed.end):
        return segment("checkpoint_ahead", **evidence)
    if tail.seq == committed.seq:
        return segment("checkpoint_mismatch", **evidence)
    return segment("checkpoint_behind", **evidence)


def _links(fd: int, start: Mark, tail: Mark) -> bool:
    """Whether the records between ``start`` and ``tail`` are whole, hash-valid and chained from ``start``."""
    data = os.pread(fd, tail.end - start.end, start.end)
    if len(data) != tail.end - start.end:
        return False
    prev, seq, digest = start.hash, start.seq + 1, start.hash
    for line in data.splitlines(keepends=True):
        try:
            body, digest = split_line(line)
            record = orjson.loads(body)
        except (LineFormatError, orjson.JSONDecodeError):
            return False
        if hashlib.sha256(body).hexdigest() != digest:
            return False
        if not isinstance(record, dict) or record.get("seq") != seq or record.get("prev") != prev:
            return False
        prev, seq = digest, seq + 1
    return seq - 1 == tail.seq and digest == tail.hash


def move_torn(path: Path, fd: int, offset: int, size: int, tag: str) -> Path:
    """Copy the torn bytes to a side file (fsynced), then cut the log back to ``offset``."""
    torn = os.pread(fd, size - offset, offset)
    side = path.with_name(f"{path.name}.torn-{tag}")
    n = 0
    while True:
        try:
            sfd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            n += 1
            side = path.with_name(f"{path.name}.torn-{tag}-{n}")
    try:
        view = memoryview(torn)
        while view:
            view = view[os.write(sfd, view) :]
        os.fsync(sfd)
    finally:
        os.close(sfd)
    os.ftruncate(fd, offset)
    os.fsync(fd)
    return side


def _rfind_newline(fd: int, before: int, size: int) -> int:
    """Offset of the last ``\\n`` strictly before ``before`` (-1 if none)."""
    pos = min(before, size)
    chunk = _TAIL_CHUNK
    while pos > 0:
        start = max(0, pos - chunk)
        data = os.pread(fd, pos - start, start)
        i = data.rfind(b"\n")
        if i >= 0:
            return start + i
        pos = start
        chunk = min(chunk * 2, 8 * 1024 * 1024)
    return -1

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

from agentguard.audit._chain import Checkpoint, LineFormatError, Mark, split_line

__all__ = ["ACKNOWLEDGED", "RECOVERED", "SEGMENT", "Note", "judge_tail", "torn_is_crash"]

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
    detail = _DETAIL[reason] + "; run `agentguard audit acknowledge --reason ...` once you have looked"
    return Note(SEGMENT, {"reason": reason, "detail": detail, **fields})


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

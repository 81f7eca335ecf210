"""Check a log's hash chain and checkpoint, byte-exact, in one streaming pass."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import orjson
from pydantic import Field

from agentguard.audit._chain import (
    GENESIS,
    Checkpoint,
    CheckpointError,
    LineFormatError,
    read_checkpoint,
    split_line,
)
from agentguard.audit._read import open_log
from agentguard.audit._recover import ACKNOWLEDGED, SEGMENT
from agentguard.models import FrozenModel

__all__ = [
    "Acknowledgement",
    "BadRecord",
    "CheckpointState",
    "CheckpointStatus",
    "ExportedHead",
    "Segment",
    "TornTail",
    "VerifyReport",
    "verify",
]


class BadRecord(FrozenModel):
    """The first record that fails: 1-based ``line``, its ``seq`` (or the one expected there), why."""

    line: int
    seq: int | None
    reason: str


class TornTail(FrozenModel):
    """Bytes after the last complete line: an interrupted write (``offset`` and ``length`` in bytes)."""

    offset: int
    length: int


class Acknowledgement(FrozenModel):
    """A person's ``audit acknowledge`` of a segment: who, when, why, and where it is in the log."""

    line: int
    seq: int
    by: str | None
    ts: str | None
    reason: str | None


class Segment(FrozenModel):
    """An ``audit.segment`` record: a writer found the file changed in a way no crash produces."""

    line: int
    seq: int
    hash: str
    reason: str | None
    detail: str | None
    ts: str | None
    acknowledged: Acknowledgement | None = None


class CheckpointStatus(StrEnum):
    MATCH = "match"  # the checkpointed record is the last record
    MISSING = "missing"  # no checkpoint file: cutting whole records off the end is undetectable
    INVALID = "invalid"  # the checkpoint file cannot be read
    AHEAD = "ahead"  # the checkpoint names a record the file no longer has: records were cut off
    BEHIND = "behind"  # records follow the checkpointed one: written without a checkpoint
    MISMATCH = "mismatch"  # the checkpointed seq exists with a different hash: rewritten
    UNCHECKED = "unchecked"  # the chain broke before the checkpointed record


class CheckpointState(FrozenModel):
    status: CheckpointStatus
    seq: int | None = None
    hash: str | None = None
    problem: str | None = None


class ExportedHead(FrozenModel):
    """A chain head kept somewhere else, looked for in the log: ``seq`` of the record it is, or None
    when no record has it (records after it were cut off, or the log was rewritten)."""

    hash: str
    seq: int | None = None


class VerifyReport(FrozenModel):
    """The outcome of :func:`verify`. ``ok`` only if every record links, the checkpoint agrees,
    and every segment (a change no crash produces, found by a writer) has been acknowledged."""

    path: str
    ok: bool
    records_verified: int
    head: str | None
    first_bad: BadRecord | None = None
    torn_tail: TornTail | None = None
    checkpoint: CheckpointState
    segments: list[Segment] = Field(default_factory=list)
    heads: list[ExportedHead] = Field(default_factory=list)

    @property
    def unacknowledged(self) -> list[Segment]:
        return [s for s in self.segments if s.acknowledged is None]


def _snapshot(path: Path) -> tuple[int, Checkpoint | None, str | None]:
    """File size and checkpoint read together under a shared lock, so a concurrent writer is not
    mistaken for a torn tail or a stale checkpoint."""
    fd = open_log(path)
    try:
        with contextlib.suppress(OSError):  # filesystems without flock: verify what is there
            fcntl.flock(fd, fcntl.LOCK_SH)
        size = os.fstat(fd).st_size
        try:
            cp, problem = read_checkpoint(path), None
        except CheckpointError as exc:
            cp, problem = None, str(exc)
    finally:
        os.close(fd)
    return size, cp, problem


def verify(path: Path, heads: Sequence[str] = ()) -> VerifyReport:
    """Verify ``path`` record by record. Raises ``AuditError`` only if the file cannot be read.

    ``heads`` are chain heads printed earlier and kept elsewhere: each must still be the hash of a
    record of the intact chain, or the report is not ``ok``. The checkpoint beside the log can be
    deleted or rewritten with it; a head kept out of reach cannot.
    """
    path = Path(path)
    wanted = {h: -1 for h in heads}  # hash -> seq of the record that has it (-1: not seen)
    size, cp, cp_problem = _snapshot(path)
    sha256 = hashlib.sha256
    loads = orjson.loads
    prev = GENESIS
    prev_before: str | None = None
    seq = 0
    offset = 0
    first_bad: BadRecord | None = None
    torn: TornTail | None = None
    # None: not reached; True: matched; False: hash differs. The empty log is always "reached".
    cp_found: bool | None = True if cp is not None and cp.seq < 0 else None
    pending_found: bool | None = None
    pending = cp.pending if cp is not None else None
    segments: dict[int, Segment] = {}
    with os.fdopen(open_log(path), "rb", buffering=1024 * 1024) as f:
        while offset < size:
            line = f.readline(size - offset)
            if not line:
                break
            if line[-1] != 0x0A:
                torn = TornTail(offset=offset, length=size - offset)
                break
            offset += len(line)
            try:
                body, stated = split_line(line)
            except LineFormatError as exc:
                first_bad = BadRecord(line=seq + 1, seq=seq, reason=str(exc))
                break
            if sha256(body).hexdigest() != stated:
                first_bad = BadRecord(
                    line=seq + 1,
                    seq=_claimed_seq(body, seq),
                    reason="hash does not match the record's bytes (record edited)",
                )
                break
            try:
                record = loads(body)
            except orjson.JSONDecodeError:
                first_bad = BadRecord(line=seq + 1, seq=seq, reason="not valid JSON")
                break
            if not isinstance(record, dict):
                first_bad = BadRecord(line=seq + 1, seq=seq, reason="not a JSON object")
                break
            got_seq = record.get("seq")
            got_prev = record.get("prev")
            if got_seq != seq or type(got_seq) is not int or got_prev != prev:
                first_bad = BadRecord(
                    line=seq + 1,
                    seq=got_seq if type(got_seq) is int else None,
                    reason=_break_reason(seq, got_seq, got_prev == prev_before),
                )
                break
            if cp is not None and seq == cp.seq:
                cp_found = stated == cp.hash
            if stated in wanted and wanted[stated] < 0:
                wanted[stated] = seq
            if pending is not None and seq == pending.seq:
                pending_found = stated == pending.hash
            event = record.get("event")
            if event in (SEGMENT, ACKNOWLEDGED):
                _note_segment(segments, record, seq, stated)
            prev_before, prev = prev, stated
            seq += 1
    verified = seq
    head = prev if verified else None
    checkpoint, cp_bad = _judge_checkpoint(
        cp, cp_problem, cp_found, pending_found, verified, first_bad is not None
    )
    if first_bad is None and cp_bad is not None:
        first_bad = cp_bad
    cp_ok = checkpoint.status in (CheckpointStatus.MATCH, CheckpointStatus.MISSING)
    all_acknowledged = all(s.acknowledged is not None for s in segments.values())
    exported = [ExportedHead(hash=h, seq=seq if seq >= 0 else None) for h, seq in wanted.items()]
    heads_found = all(h.seq is not None for h in exported)
    return VerifyReport(
        path=str(path),
        ok=first_bad is None and torn is None and cp_ok and all_acknowledged and heads_found,
        heads=exported,
        segments=list(segments.values()),
        records_verified=verified,
        head=head,
        first_bad=first_bad,
        torn_tail=torn,
        checkpoint=checkpoint,
    )


def _break_reason(expected: int, got: object, links_to_earlier: bool) -> str:
    """Why the chain breaks at this line, in the terms of what was probably done to the file."""
    if type(got) is not int:
        return f"seq is {got!r}, expected {expected}"
    if got == expected:
        return "prev does not match the previous record's hash: that record or this one was replaced"
    if got == expected - 1 and links_to_earlier:
        return (
            f"seq {got} appears twice and both records link to the same predecessor: "
            "the previous line or this one was inserted"
        )
    if got > expected:
        return f"seq jumps from {expected - 1} to {got}: record(s) before this one were deleted or moved"
    return f"seq goes back from {expected - 1} to {got}: records were inserted, moved or swapped"


def _claimed_seq(body: bytes, expected: int) -> int:
    try:
        seq = orjson.loads(body).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return expected
    return seq if type(seq) is int else expected


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _note_segment(segments: dict[int, Segment], record: dict[str, object], seq: int, digest: str) -> None:
    """Collect an ``audit.segment`` record, or mark the earlier segment an acknowledgement names."""
    if record.get("event") == SEGMENT:
        segments[seq] = Segment(
            line=seq + 1,
            seq=seq,
            hash=digest,
            reason=_text(record.get("reason")),
            detail=_text(record.get("detail")),
            ts=_text(record.get("ts")),
        )
        return
    target = record.get("segment_seq")
    found = segments.get(target) if type(target) is int else None
    if found is None or found.hash != record.get("segment_hash") or found.acknowledged is not None:
        return
    ack = Acknowledgement(
        line=seq + 1,
        seq=seq,
        by=_text(record.get("by")),
        ts=_text(record.get("ts")),
        reason=_text(record.get("reason")),
    )
    segments[found.seq] = found.model_copy(update={"acknowledged": ack})


def _judge_checkpoint(
    cp: Checkpoint | None,
    problem: str | None,
    found: bool | None,
    pending_found: bool | None,
    verified: int,
    chain_broke: bool,
) -> tuple[CheckpointState, BadRecord | None]:
    if problem is not None:
        return CheckpointState(status=CheckpointStatus.INVALID, problem=problem), None
    if cp is None:
        return CheckpointState(status=CheckpointStatus.MISSING), None
    where = {"seq": cp.seq, "hash": cp.hash}
    if found is False:
        return CheckpointState(status=CheckpointStatus.MISMATCH, **where), BadRecord(
            line=cp.seq + 1, seq=cp.seq, reason="hash differs from the checkpoint's (records rewritten)"
        )
    if found is None:
        if chain_broke:
            return CheckpointState(status=CheckpointStatus.UNCHECKED, **where), None
        return CheckpointState(status=CheckpointStatus.AHEAD, **where), BadRecord(
            line=verified + 1,
            seq=verified,
            reason=f"missing: the checkpoint says the log reaches seq {cp.seq}, but it ends "
            + (f"at seq {verified - 1}" if verified else "before the first record")
            + " (records were cut off the end)",
        )
    last = verified - 1
    if last == cp.seq or chain_broke:
        return CheckpointState(status=CheckpointStatus.MATCH, **where), None
    pending = cp.pending
    if pending is not None and pending_found and last == pending.seq:
        # The batch was written; only the (unsynced) move of the checkpoint did not happen.
        return CheckpointState(status=CheckpointStatus.MATCH, seq=pending.seq, hash=pending.hash), None
    if pending is not None and pending_found is None and last < pending.seq:
        why = (
            "by a batch that did not finish (a writer crashed in the middle of it; the next writer "
            "repairs and notes it)"
        )
    else:
        why = (
            "with no unfinished batch to explain them: no crash leaves this "
            "(a forged append or a rolled-back checkpoint)"
        )
    return CheckpointState(status=CheckpointStatus.BEHIND, **where), BadRecord(
        line=cp.seq + 2, seq=cp.seq + 1, reason=f"written after the checkpointed record (seq {cp.seq}) {why}"
    )

"""A person's acknowledgement of the segments writers started (changes no crash produces)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from agentguard.audit._log import AuditLog
from agentguard.audit._recover import ACKNOWLEDGED
from agentguard.audit._verify import Segment, verify
from agentguard.errors import AuditIntegrityError

__all__ = ["acknowledge"]


def acknowledge(
    path: Path, *, reason: str, by: str, segments: Collection[int] | None = None
) -> list[Segment]:
    """Record ``audit.acknowledged`` for every unacknowledged segment; returns them.

    Opening the log first lets a writer turn a mismatch nobody has written down yet into a
    segment, so what is acknowledged is always in the chain. A broken chain cannot be
    acknowledged: the evidence of what was acknowledged would not verify.

    ``segments``: the seqs of the segments the person looked into. If any other segment is
    unacknowledged (one started after they ran ``verify``: records cut off in between), nothing
    is acknowledged and ``AuditIntegrityError`` says which. ``None`` acknowledges all of them.
    """
    if not reason.strip():
        raise AuditIntegrityError(f"{path}: an acknowledgement needs a reason", path=str(path))
    with AuditLog(path) as log:
        log._writes_own = True  # the one writer of ``audit.acknowledged``
        report = verify(path)
        if report.first_bad is not None or report.torn_tail is not None:
            where = f"line {report.first_bad.line}" if report.first_bad else "its last line"
            raise AuditIntegrityError(
                f"{path}: the hash chain itself is broken at {where}; that cannot be acknowledged: "
                "run `agentguard audit verify` and move the file aside",
                path=str(path),
            )
        todo = report.unacknowledged
        if segments is not None:
            unseen = [seg for seg in todo if seg.seq not in segments]
            if unseen:
                listed = ", ".join(f"seq {seg.seq} ({seg.reason})" for seg in unseen)
                raise AuditIntegrityError(
                    f"{path}: unacknowledged segment(s) not named: {listed}; they may have started "
                    "after you looked: run `agentguard audit verify`, look into them, and name each "
                    "with --segment; nothing was acknowledged",
                    path=str(path),
                    segments=[seg.seq for seg in unseen],
                )
        for seg in todo:
            log.record(ACKNOWLEDGED, segment_seq=seg.seq, segment_hash=seg.hash, reason=reason, by=by)
    return todo

"""A person's acknowledgement of the segments writers started (changes no crash produces)."""

from __future__ import annotations

from pathlib import Path

from agentguard.audit._log import AuditLog
from agentguard.audit._recover import ACKNOWLEDGED
from agentguard.audit._verify import Segment, verify
from agentguard.errors import AuditIntegrityError

__all__ = ["acknowledge"]


def acknowledge(path: Path, *, reason: str, by: str) -> list[Segment]:
    """Record ``audit.acknowledged`` for every unacknowledged segment; returns them.

    Opening the log first lets a writer turn a mismatch nobody has written down yet into a
    segment, so what is acknowledged is always in the chain. A broken chain cannot be
    acknowledged: the evidence of what was acknowledged would not verify.
    """
    if not reason.strip():
        raise AuditIntegrityError(f"{path}: an acknowledgement needs a reason", path=str(path))
    with AuditLog(path) as log:
        report = verify(path)
        if report.first_bad is not None or report.torn_tail is not None:
            where = f"line {report.first_bad.line}" if report.first_bad else "its last line"
            raise AuditIntegrityError(
                f"{path}: the hash chain itself is broken at {where}; that cannot be acknowledged: "
                "run `agentguard audit verify` and move the file aside",
                path=str(path),
            )
        todo = report.unacknowledged
        for seg in todo:
            log.record(ACKNOWLEDGED, segment_seq=seg.seq, segment_hash=seg.hash, reason=reason, by=by)
    return todo

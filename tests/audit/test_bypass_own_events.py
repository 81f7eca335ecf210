"""Only the log writes its own events (``audit.segment``, ``audit.recovered``) and only ``agentguard
audit acknowledge`` writes ``audit.acknowledged``. Any ``record()`` call could write them before:
the approval store hands its owed records (rows of its ``outbox`` table, in a database others may
write: PostgreSQL is shared by every host) to the log by their stored event name, so a row reading
``audit.acknowledged`` with a segment's seq and hash acknowledged that segment as "admin", and
``verify`` passed. Such a record is now kept with a ``_`` appended to its event, as a field named
like a bookkeeping key is, and counts for nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from agentguard.approval import SqliteApprovalStore
from agentguard.audit import AuditLog, acknowledge, checkpoint_path, read_records, verify


def _log_with_a_segment(path: Path) -> tuple[int, str]:
    with AuditLog(path) as log:
        log.record("one")
    checkpoint_path(path).unlink()  # the next writer starts a segment (checkpoint_missing)
    with AuditLog(path) as log:
        log.record("two")
    (segment,) = verify(path).unacknowledged
    return segment.seq, segment.hash


def test_record_cannot_acknowledge_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    seq, digest = _log_with_a_segment(path)
    with AuditLog(path) as log:
        log.record("audit.acknowledged", segment_seq=seq, segment_hash=digest, reason="fine", by="admin")
        log.record("audit.segment", reason="checkpoint_missing", detail="a fake one")
    assert [s.seq for s in verify(path).unacknowledged] == [seq]
    assert [r["event"] for r in read_records(path)][-2:] == ["audit.acknowledged_", "audit.segment_"]
    assert not verify(path).ok
    acknowledge(path, reason="looked into it", by="ann")  # the real one still works
    assert verify(path).ok


def test_an_owed_record_in_the_approval_store_cannot_acknowledge_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    seq, digest = _log_with_a_segment(path)
    SqliteApprovalStore(tmp_path).close()
    fields = {"segment_seq": seq, "segment_hash": digest, "reason": "routine", "by": "admin"}
    with sqlite3.connect(tmp_path / "approvals.db") as db:
        db.execute(
            "INSERT INTO outbox (event, fields) VALUES (?, ?)", ("audit.acknowledged", orjson.dumps(fields))
        )
    with AuditLog(path) as log:
        SqliteApprovalStore(tmp_path, audit=log).close()
    assert [r["event"] for r in read_records(path)][-1] == "audit.acknowledged_"
    assert [s.seq for s in verify(path).unacknowledged] == [seq]

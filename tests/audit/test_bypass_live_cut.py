"""Records cut off the end, or the tail rewritten, *with the checkpoint made to match*, under a writer
that is running. ``verify`` cannot see this (docs/audit.md, what the chain cannot detect), but the
writer knows where the last record it wrote or read is, and found the file shorter or changed there:
it accepted the new end, chained on, and ``verify`` said intact. Deleting the log together with its
checkpoint even restarted the chain at seq 0 with no trace. The writer now starts a segment
(``records_gone``) whenever a record it knew of is no longer where it was.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from agentguard.audit import AuditLog, checkpoint_path, read_records, verify

from .conftest import forge_line, lines_of, stated_hash


def _checkpoint_at(path: Path, lines: list[bytes]) -> None:
    """The checkpoint an insider writes to match the file they left (docs/audit.md, checkpoint)."""
    mark = {"seq": len(lines) - 1, "hash": stated_hash(lines[-1]), "end": sum(map(len, lines))}
    checkpoint_path(path).write_bytes(orjson.dumps(mark) + b"\n")


def _segments(path: Path) -> list[tuple[str | None, str | None]]:
    return [(s.reason, s.detail) for s in verify(path).unacknowledged]


def test_records_cut_with_a_matching_checkpoint_under_a_running_writer_start_a_segment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(6):
            log.record("call.received", i=i)
        kept = lines_of(path)[:4]
        path.write_bytes(b"".join(kept))
        _checkpoint_at(path, kept)
        assert verify(path).ok  # the limit: nothing in the file says so
        log.record("after")
    events = [r["event"] for r in read_records(path)]
    assert events == ["call.received"] * 4 + ["audit.segment", "after"]
    report = verify(path)
    assert not report.ok
    assert [reason for reason, _ in _segments(path)] == ["records_gone"]
    segment = list(read_records(path))[4]
    assert segment["known"]["seq"] == 5  # the evidence: what the writer knew, what it found
    assert segment["tail"]["seq"] == 3


def test_the_last_record_rewritten_with_a_matching_checkpoint_under_a_running_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("policy.decided", effect="allow")
        log.record("policy.decided", effect="deny")
        lines = lines_of(path)
        record = orjson.loads(lines[-1])
        del record["hash"]
        record["effect"] = "ask!"  # same length: the file size does not change
        forged, _ = forge_line(record)
        assert len(forged) == len(lines[-1])
        lines[-1] = forged
        path.write_bytes(b"".join(lines))
        _checkpoint_at(path, lines)
        assert verify(path).ok
        log.record("after")
    assert [reason for reason, _ in _segments(path)] == ["records_gone"]


def test_log_and_checkpoint_deleted_under_a_running_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
        log.record("two")
        path.unlink()
        checkpoint_path(path).unlink()
        log.record("three")
    records = list(read_records(path))
    assert [r["event"] for r in records] == ["audit.segment", "three"]
    assert records[0]["reason"] == "records_gone"
    assert records[0]["known"]["seq"] == 1
    assert not verify(path).ok


def test_other_writers_appending_is_not_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as first, AuditLog(path) as second:
        for i in range(5):
            first.record("a", i=i)
            second.record("b", i=i)
    assert [r["event"] for r in read_records(path)] == ["a", "b"] * 5
    assert verify(path).ok

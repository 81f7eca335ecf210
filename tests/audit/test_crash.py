"""Crash safety: kill -9 mid-append, torn tails, a checkpoint left behind, repair on reopen."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agentguard.audit import (
    ACKNOWLEDGED,
    RECOVERED,
    SEGMENT,
    AuditLog,
    CheckpointStatus,
    acknowledge,
    checkpoint_path,
    read_records,
    verify,
)
from agentguard.errors import AuditIntegrityError

from .conftest import forge_line, lines_of, simulate_crash, spawn_python

APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from agentguard.audit import AuditLog
    log = AuditLog(Path(sys.argv[1]))
    pad = "x" * int(sys.argv[2])
    i = 0
    while True:
        log.record("tick", i=i, pad=pad)
        i += 1
    """
)


def _wait_for_records(path: Path, n: int, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, "appender died early"
        time.sleep(0.005)  # polling the file with a deadline, not standing in for a sync point
    pytest.fail(f"appender did not write {n} records in {deadline_s}s")


@pytest.mark.parametrize(("n", "pad"), [(20, 100), (5, 400_000)])
def test_sigkill_mid_append_then_reopen_repairs(tmp_path: Path, n: int, pad: int) -> None:
    path = tmp_path / "audit.jsonl"
    proc = spawn_python(APPENDER, str(path), str(pad))
    try:
        _wait_for_records(path, n, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    size = path.stat().st_size
    report = verify(path)
    assert report.records_verified >= n
    complete = path.read_bytes().rfind(b"\n") + 1
    if report.torn_tail is not None:
        assert report.torn_tail.offset == complete
        assert report.torn_tail.length == size - complete
        assert not report.ok
    else:
        assert complete == size
    assert report.checkpoint.status in (CheckpointStatus.MATCH, CheckpointStatus.BEHIND)
    if report.checkpoint.status is CheckpointStatus.BEHIND:  # killed between the write and the checkpoint
        assert report.checkpoint.seq == report.records_verified - 2
    intact = report.records_verified
    torn_bytes = path.read_bytes()[complete:]

    with AuditLog(path) as log:
        log.record("after.crash")
    after = verify(path)
    assert after.ok, after
    records = list(read_records(path))
    assert [r["i"] for r in records[:intact]] == list(range(intact))
    notes = [r for r in records[intact:] if r["event"] == RECOVERED]
    assert records[-1]["event"] == "after.crash"
    assert len(records) == intact + len(notes) + 1
    if torn_bytes:
        (torn_note,) = [r for r in notes if r["reason"] == "torn_tail"]
        assert torn_note["offset"] == complete
        assert torn_note["length"] == len(torn_bytes)
        assert Path(torn_note["side_file"]).read_bytes() == torn_bytes
        assert Path(torn_note["side_file"]).name.startswith("audit.jsonl.torn-")
    if report.checkpoint.status is CheckpointStatus.BEHIND:
        assert any(r["reason"] == "checkpoint_behind" for r in notes)


def test_partial_line_of_an_announced_batch_is_moved_aside_on_open(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    partial = simulate_crash(path, batch=1, written=0, torn=35)
    good_size = path.stat().st_size - len(partial)

    report = verify(path)
    assert not report.ok
    assert report.records_verified == 4
    assert report.first_bad is None
    assert report.torn_tail is not None
    assert (report.torn_tail.offset, report.torn_tail.length) == (good_size, len(partial))
    assert report.checkpoint.status is CheckpointStatus.MATCH

    AuditLog(path).close()  # opening alone repairs
    records = list(read_records(path))
    assert len(records) == 5
    note = records[4]
    assert note["event"] == RECOVERED
    assert note["reason"] == "torn_tail"
    assert note["offset"] == good_size
    assert note["length"] == len(partial)
    assert note["seq"] == 4
    assert note["prev"] == records[3]["hash"]
    assert Path(note["side_file"]).read_bytes() == partial
    after = verify(path)
    assert after.ok, after
    assert after.segments == []


def test_missing_final_newline_of_an_announced_batch_is_torn_and_kept(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    last = lines_of(path)[-1]
    simulate_crash(path, batch=1, written=0, torn=len(last) - 1)
    with AuditLog(path) as log:
        log.record("after")
    records = list(read_records(path))
    (torn,) = (r for r in records if r["event"] == RECOVERED)
    assert torn["reason"] == "torn_tail"
    assert Path(torn["side_file"]).read_bytes() == last[:-1]
    assert [r["event"] for r in records[2:]] == [RECOVERED, "after"]
    assert verify(path).ok


@pytest.mark.parametrize(("batch", "written"), [(1, 1), (3, 3), (3, 1), (4, 2)])
def test_batch_written_without_its_checkpoint_is_a_crash(
    make_log: Callable[..., Path], batch: int, written: int
) -> None:
    path = make_log(6)
    simulate_crash(path, batch=batch, written=written)
    report = verify(path)
    if written == batch:  # the whole batch landed: only the (unsynced) commit is missing
        assert report.ok, report
    else:
        assert not report.ok
        assert report.checkpoint.status is CheckpointStatus.BEHIND
        assert report.first_bad is not None
        assert "did not finish" in report.first_bad.reason

    AuditLog(path).close()
    *_, note = read_records(path)
    assert note["event"] == RECOVERED
    assert note["reason"] == "checkpoint_behind"
    assert note["checkpoint"]["seq"] == 5 - batch
    assert note["tail"]["seq"] == 5 - batch + written
    after = verify(path)
    assert after.ok, after
    assert after.segments == []


def test_partial_batch_that_does_not_chain_is_not_a_crash(make_log: Callable[..., Path]) -> None:
    """Records in the announced window must chain from the checkpoint as a writer's would."""
    path = make_log(6)
    simulate_crash(path, batch=3, written=2)
    lines = lines_of(path)
    record = orjson.loads(lines[-1])
    del record["hash"]
    record["prev"] = "f" * 64
    lines[-1], _ = forge_line(record)
    path.write_bytes(b"".join(lines))
    AuditLog(path).close()
    *_, note = read_records(path)
    assert note["event"] == SEGMENT
    assert note["reason"] == "checkpoint_behind"
    assert not verify(path).ok


def test_rolled_back_checkpoint_starts_a_segment(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    stale = checkpoint_path(path).read_bytes()
    with AuditLog(path) as log:
        log.record("one more")
    checkpoint_path(path).write_bytes(stale)  # no crash does this: the checkpoint moves forward only

    report = verify(path)
    assert not report.ok
    assert report.checkpoint.status is CheckpointStatus.BEHIND
    assert report.first_bad is not None
    assert report.first_bad.line == 4
    assert "no crash leaves this" in report.first_bad.reason

    AuditLog(path).close()
    *_, note = read_records(path)
    assert note["event"] == SEGMENT
    assert note["reason"] == "checkpoint_behind"
    assert note["checkpoint"]["seq"] == 2
    assert note["tail"]["seq"] == 3
    report = verify(path)
    assert not report.ok
    assert report.first_bad is None
    (seg,) = report.unacknowledged
    assert seg.seq == 4
    assert seg.reason == "checkpoint_behind"


def test_records_cut_off_start_a_segment_that_keeps_the_evidence(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[:3]))
    with AuditLog(path) as log:
        log.record("resumed")
    records = list(read_records(path))
    note = records[3]
    assert note["event"] == SEGMENT
    assert note["reason"] == "checkpoint_ahead"
    assert note["checkpoint"]["seq"] == 4
    assert note["tail"]["seq"] == 2
    assert orjson.loads(lines[4])["hash"] == note["checkpoint"]["hash"]  # evidence of what was cut
    report = verify(path)
    assert not report.ok
    assert [s.seq for s in report.unacknowledged] == [3]
    # Later writers do not make it go away.
    with AuditLog(path) as log:
        log.record("later")
    assert [s.seq for s in verify(path).unacknowledged] == [3]


def test_acknowledged_segment_verifies_and_stays_listed(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    path.write_bytes(b"".join(lines_of(path)[:3]))
    (seg,) = acknowledge(path, reason="I truncated it while testing backups", by="alice")
    assert seg.reason == "checkpoint_ahead"  # the writer acknowledge opens wrote the segment first
    report = verify(path)
    assert report.ok, report
    (listed,) = report.segments
    assert listed.acknowledged is not None
    assert listed.acknowledged.by == "alice"
    assert listed.acknowledged.reason == "I truncated it while testing backups"
    *_, ack = read_records(path)
    assert ack["event"] == ACKNOWLEDGED
    assert ack["segment_seq"] == seg.seq
    assert ack["segment_hash"] == seg.hash
    assert acknowledge(path, reason="again", by="alice") == []


def test_acknowledgement_of_an_unknown_segment_does_not_count(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    path.write_bytes(b"".join(lines_of(path)[:3]))
    with AuditLog(path) as log:
        log.record(ACKNOWLEDGED, segment_seq=3, segment_hash="0" * 64, reason="forged", by="x")
    assert [s.seq for s in verify(path).unacknowledged] == [3]


def test_untorn_partial_line_without_an_announced_batch_is_a_segment(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    with path.open("ab") as f:
        f.write(b'{"agent":"coder","event":"call.rec')
    AuditLog(path).close()
    report = verify(path)
    assert not report.ok
    assert [s.reason for s in report.unacknowledged] == ["torn_tail"]


def test_garbage_last_line_fails_closed(make_log: Callable[..., Path]) -> None:
    path = make_log(2)
    with path.open("ab") as f:
        f.write(b"this is not an audit record\n")
    with pytest.raises(AuditIntegrityError, match="not a valid audit record"):
        AuditLog(path)


def test_log_deleted_while_open_starts_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
        log.record("two")
        path.unlink()
        log.record("three")
    records = list(read_records(path))
    assert records[0]["event"] == SEGMENT
    assert records[0]["reason"] == "checkpoint_ahead"
    assert records[0]["checkpoint"]["seq"] == 1
    assert records[1]["event"] == "three"
    assert records[1]["seq"] == 1
    report = verify(path)
    assert not report.ok
    assert [s.seq for s in report.unacknowledged] == [0]


def test_checkpoint_temp_files_left_by_killed_writers_are_removed_on_open(
    make_log: Callable[..., Path],
) -> None:
    path = make_log(2)
    head = checkpoint_path(path)
    leftovers = [head.with_name(f"{head.name}.tmp-{pid}") for pid in (os.getpid(), 4_194_303, 12)]
    for tmp in leftovers:
        tmp.write_bytes(b'{"seq":0,')  # as a writer killed mid-replace leaves it
    unrelated = head.with_name(f"{head.name}.tmp-notes")
    unrelated.write_text("not ours")
    with AuditLog(path) as log:
        log.record("after")
    assert [t for t in leftovers if t.exists()] == []
    assert unrelated.exists()
    assert verify(path).ok


def test_kill_9_while_replacing_the_checkpoint_leaves_nothing_behind_after_reopen(tmp_path: Path) -> None:
    """Real kill -9 of a writer that replaces the checkpoint all the time; a temp file may be left."""
    path = tmp_path / "audit.jsonl"
    proc = spawn_python(APPENDER, str(path), "10")
    try:
        _wait_for_records(path, 200, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    AuditLog(path).close()
    assert list(tmp_path.glob("audit.jsonl.head.tmp-*")) == []
    assert verify(path).ok


def test_checkpoint_rolled_back_under_a_running_writer_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
        stale = checkpoint_path(path).read_bytes()
        log.record("two")
        checkpoint_path(path).write_bytes(stale)
        log.record("three")
    events = [r["event"] for r in read_records(path)]
    assert events == ["one", "two", SEGMENT, "three"]
    report = verify(path)
    assert [(s.seq, s.reason) for s in report.unacknowledged] == [(2, "checkpoint_behind")]


def test_forged_append_under_a_running_writer_starts_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
        last = lines_of(path)[-1]
        forged, _ = forge_line({"event": "forged", "seq": 1, "prev": last[-67:-3].decode(), "ts": "x"})
        with path.open("ab") as f:
            f.write(forged)
        log.record("two")
    assert [r["event"] for r in read_records(path)] == ["one", "forged", SEGMENT, "two"]
    assert [s.reason for s in verify(path).unacknowledged] == ["checkpoint_behind"]

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

from agentguard.audit import RECOVERED, AuditLog, CheckpointStatus, checkpoint_path, read_records, verify
from agentguard.errors import AuditIntegrityError

from .conftest import lines_of, spawn_python

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


def test_partial_line_is_reported_then_moved_aside_on_open(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    good_size = path.stat().st_size
    partial = b'{"agent":"coder","event":"call.rec'
    with path.open("ab") as f:
        f.write(partial)

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
    assert verify(path).ok


def test_missing_final_newline_is_torn_and_the_record_kept_in_the_side_file(
    make_log: Callable[..., Path],
) -> None:
    path = make_log(3)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    last = data[data.rindex(b"\n", 0, len(data) - 1) + 1 : -1]
    with AuditLog(path) as log:
        log.record("after")
    records = list(read_records(path))
    torn, cut = (r for r in records if r["event"] == RECOVERED)
    assert torn["reason"] == "torn_tail"
    assert Path(torn["side_file"]).read_bytes() == last
    assert cut["reason"] == "checkpoint_ahead"
    assert cut["checkpoint"]["seq"] == 2
    assert cut["tail"]["seq"] == 1
    assert verify(path).ok


def test_checkpoint_left_behind_is_noted_on_open(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    stale = checkpoint_path(path).read_bytes()
    with AuditLog(path) as log:
        log.record("one more")
    checkpoint_path(path).write_bytes(stale)  # as if killed after the write, before the checkpoint

    report = verify(path)
    assert not report.ok
    assert report.checkpoint.status is CheckpointStatus.BEHIND
    assert report.first_bad is not None
    assert report.first_bad.line == 4

    AuditLog(path).close()
    *_, note = read_records(path)
    assert note["event"] == RECOVERED
    assert note["reason"] == "checkpoint_behind"
    assert note["checkpoint"]["seq"] == 2
    assert note["tail"]["seq"] == 3
    assert verify(path).ok


def test_records_cut_off_are_noted_when_writing_resumes(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[:3]))
    with AuditLog(path) as log:
        log.record("resumed")
    records = list(read_records(path))
    note = records[3]
    assert note["reason"] == "checkpoint_ahead"
    assert note["checkpoint"]["seq"] == 4
    assert note["tail"]["seq"] == 2
    assert orjson.loads(lines[4])["hash"] == note["checkpoint"]["hash"]  # evidence of what was cut
    assert verify(path).ok


def test_garbage_last_line_fails_closed(make_log: Callable[..., Path]) -> None:
    path = make_log(2)
    with path.open("ab") as f:
        f.write(b"this is not an audit record\n")
    with pytest.raises(AuditIntegrityError, match="not a valid audit record"):
        AuditLog(path)


def test_log_deleted_while_open_starts_over_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
        log.record("two")
        path.unlink()
        log.record("three")
    records = list(read_records(path))
    assert records[0]["event"] == RECOVERED
    assert records[0]["reason"] == "checkpoint_ahead"
    assert records[0]["checkpoint"]["seq"] == 1
    assert records[1]["event"] == "three"
    assert records[1]["seq"] == 1
    assert verify(path).ok

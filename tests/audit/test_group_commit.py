"""Group commit: the writer thread, what each durability mode promises under kill -9, backpressure,
many threads on one chain, and write failures that happen off the caller's thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from agentguard.audit import AuditLog, read_records, verify
from agentguard.settings import Durability

from .conftest import REPO, run_python

# Each thread prints "<thread> <i>" only after record() returned: an acknowledged record.
ACKNOWLEDGING_WRITER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from agentguard.audit import AuditLog
    from agentguard.settings import Durability
    durability, threads, batch_size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    log = AuditLog(Path(sys.argv[1]), durability=Durability(durability), batch_size=batch_size)
    out = threading.Lock()

    def work(t):
        i = 0
        while True:
            log.record("tick", t=t, i=i, pad="x" * 200)
            if durability == "batch" and i % 25 == 24:
                log.flush()
                with out:
                    sys.stdout.write(f"flushed {t} {i}\\n")
                    sys.stdout.flush()
            with out:
                sys.stdout.write(f"{t} {i}\\n")
                sys.stdout.flush()
            i += 1

    for t in range(threads):
        threading.Thread(target=work, args=(t,), daemon=True).start()
    threading.Event().wait()
    """
)


def _kill_after(path: Path, durability: str, threads: int, batch_size: int, acks: int) -> list[str]:
    """Run the writer until it has acknowledged ``acks`` records, kill -9 it, return what it printed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ACKNOWLEDGING_WRITER, str(path), durability, str(threads), str(batch_size)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while len(lines) < acks:
            line = proc.stdout.readline()
            assert line, f"writer died early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # whole lines printed after the last one read were acknowledged before the kill too
    return lines + rest.split("\n")[:-1]


def _on_disk_after_repair(path: Path) -> dict[int, list[int]]:
    AuditLog(path).close()  # reopening repairs a torn tail or an unfinished batch, and notes it
    assert verify(path).ok
    by_thread: dict[int, list[int]] = {}
    for record in read_records(path):
        if record["event"] == "tick":
            by_thread.setdefault(record["t"], []).append(record["i"])
    return by_thread


def test_fsync_mode_an_acknowledged_record_survives_kill_9(tmp_path: Path) -> None:
    """Eight threads share fsyncs (group commit); every record whose ``record()`` returned is on disk."""
    path = tmp_path / "audit.jsonl"
    printed = _kill_after(path, "fsync", threads=8, batch_size=4096, acks=400)
    acknowledged: dict[int, int] = {}
    for line in printed:
        t, i = map(int, line.split())
        acknowledged[t] = max(acknowledged.get(t, -1), i)
    on_disk = _on_disk_after_repair(path)
    for t, last in acknowledged.items():
        # in order, none missing, at least up to the last acknowledged one
        assert on_disk[t][: last + 1] == list(range(last + 1))
        assert on_disk[t] == list(range(len(on_disk[t])))


def test_batch_mode_kill_9_loses_at_most_the_queue_and_never_a_flushed_record(tmp_path: Path) -> None:
    """What docs/audit.md promises for batch mode: a record is durable once ``flush()`` returned; a
    kill -9 loses only records still queued, at most ``batch_size``; what remains verifies."""
    path = tmp_path / "audit.jsonl"
    batch_size = 16
    printed = _kill_after(path, "batch", threads=1, batch_size=batch_size, acks=600)
    flushed = max(int(x.split()[2]) for x in printed if x.startswith("flushed"))
    accepted = max(int(x.split()[1]) for x in printed if not x.startswith("flushed"))
    (on_disk,) = _on_disk_after_repair(path).values()
    assert on_disk == list(range(len(on_disk)))  # a prefix, in order
    assert len(on_disk) > flushed  # every flushed record survived
    assert len(on_disk) >= accepted + 1 - batch_size  # at most batch_size accepted records lost


@pytest.mark.parametrize("durability", [Durability.FSYNC, Durability.BATCH])
def test_many_threads_one_chain_verifies(tmp_path: Path, durability: Durability) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=durability, batch_size=32)
    start = threading.Barrier(16)

    def work(t: int) -> None:
        start.wait()
        for i in range(100):
            log.record("tick", t=t, i=i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    records = list(read_records(path))
    assert len(records) == 1600
    assert [r["seq"] for r in records] == list(range(1600))
    for t in range(16):
        assert [r["i"] for r in records if r["t"] == t] == list(range(100))
    report = verify(path)
    assert report.ok, report
    assert report.records_verified == 1600


def test_backpressure_waits_for_room_and_drops_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=Durability.BATCH, batch_size=2)
    most = 0

    def work(t: int) -> None:
        nonlocal most
        for i in range(200):
            log.record("tick", t=t, i=i)
            most = max(most, log.buffered)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    assert most <= 2
    records = list(read_records(path))
    assert len(records) == 800
    assert verify(path).ok


def test_fsync_mode_record_returns_only_after_its_fsync_from_many_threads(tmp_path: Path) -> None:
    """The checkpoint names a record at or after each one just acknowledged, whichever thread wrote it."""
    import orjson

    from agentguard.audit import checkpoint_path

    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=Durability.FSYNC)
    behind: list[tuple[int, int]] = []
    checked: list[int] = []

    def work(t: int) -> None:
        for i in range(30):
            log.record("tick", t=t, i=i)
            data = path.read_bytes()
            lines = data[: data.rfind(b"\n") + 1].splitlines()  # another batch may be mid-write
            mine = [n for n, line in enumerate(lines) if orjson.loads(line).get("t") == t]
            head = orjson.loads(checkpoint_path(path).read_bytes())["seq"]
            if len(mine) != i + 1 or head < mine[-1]:
                behind.append((t, i))
            checked.append(t)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    assert behind == []
    assert len(checked) == 180  # no thread died on the way
    assert verify(path).ok


BATCH_WRITE_FAILS = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from agentguard.audit import AuditLog
    from agentguard.errors import AuditError
    from agentguard.settings import Durability
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
    log = AuditLog(Path(sys.argv[1]), durability=Durability.BATCH, batch_size=4)
    try:
        for i in range(1000):
            log.record("tick", i=i, pad="x" * 200)
            if i % 3 == 2:
                log.flush()
    except AuditError as exc:
        print(f"AuditError at {i}: {exc.code}", flush=True)
    """
)


def test_batch_mode_a_write_failure_in_the_writer_reaches_the_caller(tmp_path: Path) -> None:
    """The writer thread's failure (EFBIG) is raised by the next ``record``/``flush``; the records stay
    queued, and at exit they are reported lost with exit status 74."""
    path = tmp_path / "audit.jsonl"
    result = run_python(BATCH_WRITE_FAILS, str(path))
    assert "AuditError at" in result.stdout, result.stderr
    assert result.returncode == 74, result.stderr
    assert "could not be written at exit and are lost" in result.stderr
    report = verify(path)
    assert report.ok, report
    assert 0 < report.records_verified < 1000


def test_an_idle_writer_thread_ends_and_the_next_record_starts_another(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=Durability.FSYNC)
    log.record("one")
    writer = log._writer
    assert writer is not None
    writer.join(timeout=60)  # it ends on its own after IDLE_EXIT_S without records
    assert not writer.is_alive()
    log.record("two")  # durable on return, by a new writer thread
    assert [r["event"] for r in read_records(path)] == ["one", "two"]
    log.close()
    assert verify(path).ok

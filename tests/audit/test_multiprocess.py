"""Several processes append to one log at once: one chain, nothing lost, nothing interleaved."""

from __future__ import annotations

import itertools
import multiprocessing
from pathlib import Path
from typing import Any

from agentguard.audit import AuditLog, read_records, verify
from agentguard.settings import Durability

_CTX = multiprocessing.get_context("fork")
PER_WRITER = 120


def _writer(path: str, writer: int, durability: str, batch_size: int, barrier: Any) -> None:
    log = AuditLog(Path(path), durability=Durability(durability), batch_size=batch_size)
    barrier.wait(timeout=60)
    for i in range(PER_WRITER):
        log.record("tick", writer=writer, i=i, pad="p" * (i % 7) * 50)
    log.close()


def test_concurrent_processes_append_one_verifiable_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("start")
    modes = [("fsync", 1), ("batch", 7), ("fsync", 1), ("batch", 16)]
    barrier = _CTX.Barrier(len(modes))
    procs = [
        _CTX.Process(target=_writer, args=(str(path), w, mode, size, barrier))
        for w, (mode, size) in enumerate(modes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * len(modes)

    report = verify(path)
    assert report.ok, report
    assert report.records_verified == 1 + PER_WRITER * len(modes)
    records = list(read_records(path))
    assert [r["seq"] for r in records] == list(range(len(records)))
    for w in range(len(modes)):
        assert [r["i"] for r in records if r.get("writer") == w] == list(range(PER_WRITER))
    writers_in_order = [r["writer"] for r in records[1:]]
    switches = sum(1 for a, b in itertools.pairwise(writers_in_order) if a != b)
    assert switches > len(modes)  # the writers really interleaved, each continuing the others' chain


def _inherited_writer(log: AuditLog, barrier: Any) -> None:
    barrier.wait(timeout=60)
    for i in range(PER_WRITER):
        log.record("tick", writer="child", i=i)
    log.close()


def test_forked_child_with_the_parents_log_neither_duplicates_nor_races(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, durability=Durability.BATCH, batch_size=1000)
    log.record("buffered.before.fork")  # still in the parent's buffer when the child starts
    barrier = _CTX.Barrier(2)
    child = _CTX.Process(target=_inherited_writer, args=(log, barrier))
    child.start()
    barrier.wait(timeout=60)
    for i in range(PER_WRITER):
        log.record("tick", writer="parent", i=i)
        if i % 10 == 0:
            log.flush()
    log.close()
    child.join(timeout=60)
    assert child.exitcode == 0

    report = verify(path)
    assert report.ok, report
    records = list(read_records(path))
    assert [r["event"] for r in records].count("buffered.before.fork") == 1
    for who in ("parent", "child"):
        assert [r["i"] for r in records if r.get("writer") == who] == list(range(PER_WRITER))

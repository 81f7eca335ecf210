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

"""Audit log: append rate with the hash chain (fsync per record, batched) and ``verify`` speed.

Each number is paired with a baseline measured in the same run: plain JSON lines (orjson, no chain,
no redaction, no lock) written with the same durability, and, for ``verify``, a pass that only
parses every line. The ratio is the price of tamper evidence.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from agentguard.audit import AuditLog, verify
from agentguard.settings import Durability
from benchmarks._stats import ratio

GENERATE_BATCH = 4096


def _fields(i: int) -> dict[str, Any]:
    return {
        "call_id": uuid.uuid4().hex,
        "agent": "bench",
        "tool": "fs.read",
        "session": None,
        "framework": None,
        "arguments": {"path": f"src/module_{i % 97}.py"},
    }


def _chained(path: Path, n: int, durability: Durability, batch_size: int = 64) -> float:
    """Records per second through ``AuditLog.record`` (closing, i.e. the last flush, included)."""
    started = time.perf_counter()
    log = AuditLog(path, durability=durability, batch_size=batch_size)
    for i in range(n):
        log.record("call.received", **_fields(i))
    log.close()
    return n / (time.perf_counter() - started)


def _plain(path: Path, n: int, every: int) -> float:
    """Records per second of plain JSON lines with an fsync every ``every`` records."""
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        buffer: list[bytes] = []
        for i in range(n):
            record = {"event": "call.received", "ts": time.time(), **_fields(i)}
            buffer.append(orjson.dumps(record) + b"\n")
            if len(buffer) >= every:
                os.write(fd, b"".join(buffer))
                os.fsync(fd)
                buffer.clear()
        if buffer:
            os.write(fd, b"".join(buffer))
            os.fsync(fd)
    finally:
        os.close(fd)
    return n / (time.perf_counter() - started)


def _parse_only(path: Path) -> float:
    started = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n / (time.perf_counter() - started)


def run(*, n_fsync: int, n_batch: int, n_verify: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-audit-") as name:
        tmp = Path(name)
        fsync = _chained(tmp / "fsync.jsonl", n_fsync, Durability.FSYNC)
        fsync_plain = _plain(tmp / "fsync-plain.jsonl", n_fsync, 1)
        batch = _chained(tmp / "batch.jsonl", n_batch, Durability.BATCH)
        batch_plain = _plain(tmp / "batch-plain.jsonl", n_batch, 64)
        big = tmp / "verify.jsonl"
        generate = _chained(big, n_verify, Durability.BATCH, GENERATE_BATCH)
        size = big.stat().st_size
        started = time.perf_counter()
        report = verify(big)
        verify_s = time.perf_counter() - started
        if not report.ok or report.records_verified != n_verify:
            raise RuntimeError(f"verify of the generated log failed: {report!r}")
        parse = _parse_only(big)
    verify_rate = n_verify / verify_s
    return {
        "append_per_s": {
            "fsync": round(fsync),
            "fsync_plain_jsonl": round(fsync_plain),
            "batch64": round(batch),
            "batch64_plain_jsonl": round(batch_plain),
            f"batch{GENERATE_BATCH}": round(generate),
        },
        "append_slowdown_vs_plain": {
            "fsync": ratio(fsync_plain, fsync),
            "batch64": ratio(batch_plain, batch),
        },
        "records": {"fsync": n_fsync, "batch64": n_batch, "verify": n_verify},
        "verify": {
            "records": n_verify,
            "bytes": size,
            "seconds": round(verify_s, 3),
            "records_per_s": round(verify_rate),
            "parse_only_records_per_s": round(parse),
            "slowdown_vs_parse_only": ratio(parse, verify_rate),
        },
    }

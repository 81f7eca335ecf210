"""Helpers for the audit tests: real logs on real files, and an independent forger.

``forge_line`` re-implements the documented line format (docs/audit.md) without the package's
code, so the tests check the format as written down, and can build self-consistent forged records.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentguard.audit import AuditLog, checkpoint_path
from agentguard.settings import Durability

REPO = Path(__file__).resolve().parents[2]


def forge_line(record: dict[str, Any]) -> tuple[bytes, str]:
    """A line as the docs describe it: sorted compact JSON without ``hash``, hash spliced in."""
    body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"hash":"' + digest.encode() + b'"}\n', digest


def stated_hash(line: bytes) -> str:
    return line[-67:-3].decode()


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def simulate_crash(path: Path, *, batch: int, written: int, torn: int = 0) -> bytes:
    """Leave ``path`` as a writer killed in the middle of a batch would (docs/audit.md, checkpoint).

    The last ``batch`` records were announced in the checkpoint as ``pending``; of them, ``written``
    whole lines and ``torn`` bytes of the next one reached the file. Returns the torn bytes.
    """
    lines = lines_of(path)
    before = lines[: len(lines) - batch]
    committed = {
        "seq": len(before) - 1,
        "hash": stated_hash(before[-1]) if before else "0" * 64,
        "end": sum(map(len, before)),
    }
    pending = {"seq": len(lines) - 1, "hash": stated_hash(lines[-1]), "end": sum(map(len, lines))}
    checkpoint_path(path).write_bytes(orjson.dumps({**committed, "pending": pending}))
    landed = lines[: len(before) + written]
    tail = lines[len(landed)][:torn] if torn else b""
    path.write_bytes(b"".join(landed) + tail)
    return tail


@pytest.fixture
def make_log(tmp_path: Path) -> Callable[..., Path]:
    """Write ``n`` realistic records (two per call) to a fresh log; return its path."""

    def make(n: int = 6, name: str = "audit.jsonl", durability: Durability = Durability.BATCH) -> Path:
        path = tmp_path / name
        with AuditLog(path, durability=durability) as log:
            for i in range(n):
                call_id = f"{i // 2:032x}"
                if i % 2 == 0:
                    log.record(
                        "call.received",
                        call_id=call_id,
                        agent="coder",
                        tool="fs.read",
                        arguments={"path": f"src/{i}.py"},
                    )
                else:
                    log.record(
                        "policy.decided", call_id=call_id, agent="coder", tool="fs.read", effect="allow"
                    )
        return path

    return make


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn_python(code: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)

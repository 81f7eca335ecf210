"""The log's path replaced by a FIFO: every reader hung. ``verify`` and ``read_last`` opened it and
waited for a writer that never comes; the web console's audit page and chain status (one thread
each per request) and the TUI's audit screen call them. Readers now open without blocking and say
the path is not a regular file (``AuditError``), as the writer already did."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.audit import read_last, read_records, verify
from agentguard.audit._pg import read_witness
from agentguard.errors import AuditError

READERS: dict[str, Callable[[Path], Any]] = {
    "verify": verify,
    "read_last": lambda p: read_last(p, 10),
    "read_records": lambda p: list(read_records(p)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_fifo_at_the_log_path_is_an_error_not_a_hang(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "audit.jsonl"
    os.mkfifo(path)
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(READERS[reader](path))
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    if not outcome:  # release the reader the old code left waiting
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(10)
    assert outcome, "hung"
    assert isinstance(outcome[0], AuditError), outcome
    assert "not a regular file" in str(outcome[0])


def test_a_fifo_at_the_database_witness_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The PostgreSQL writer reads its witness after every batch, and ``audit verify`` reads it."""
    witness = tmp_path / "audit-db.witness"
    os.mkfifo(witness)
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_witness(witness))
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    if not outcome:  # release the reader the old code left waiting
        os.close(os.open(witness, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert outcome, "hung"
    assert isinstance(outcome[0], AuditError), outcome
    assert "not a regular file" in str(outcome[0])

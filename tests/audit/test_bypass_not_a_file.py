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


def _outcome_at_fifo(path: Path, read: Callable[[Path], Any]) -> object:
    """What ``read`` of a FIFO at ``path`` returned or raised; a reader left waiting is released
    (as the old code left it) and the test fails as hung."""
    os.mkfifo(path)
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(read(path))
        except Exception as exc:  # noqa: BLE001 - checked by the caller
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if not outcome:  # release the reader the old code left waiting
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert outcome, "hung"
    return outcome[0]


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_fifo_at_the_log_path_is_an_error_not_a_hang(tmp_path: Path, reader: str) -> None:
    outcome = _outcome_at_fifo(tmp_path / "audit.jsonl", READERS[reader])
    assert isinstance(outcome, AuditError), outcome
    assert "not a regular file" in str(outcome)


def test_a_fifo_at_the_database_witness_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The PostgreSQL writer reads its witness after every batch, and ``audit verify`` reads it."""
    outcome = _outcome_at_fifo(tmp_path / "audit-db.witness", read_witness)
    assert isinstance(outcome, AuditError), outcome
    assert "not a regular file" in str(outcome)

"""The writer frees a written batch a run at a time (``_release``, letting callers in between): a
batch that failed is put back on the queue first, so freeing the writer's list loses no record of it
and the retry writes them all, in order (review 2: checked with a batch of 1000, several runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentguard.audit import AuditLog, read_records, verify
from agentguard.errors import AuditError
from agentguard.settings import Durability


def test_a_failed_batch_longer_than_a_free_run_is_retried_whole_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, durability=Durability.BATCH)
    real = log._file.write
    sizes: list[int] = []

    full = [True]  # the disk stays full until the test frees it: whether the writer's first try
    # lands before or after flush() asks, flush() sees a failed write (no race with the writer)

    def write(batch: list[Any], **kw: Any) -> Any:
        sizes.append(len(batch))
        if full[0]:
            raise OSError(28, "No space left on device")
        return real(batch, **kw)

    log._file.write = write  # type: ignore[method-assign]
    with log._cond:  # queued together: the writer takes them as one batch
        for i in range(1000):
            log.record("tick", i=i)
    with pytest.raises(AuditError):
        log.flush()
    full[0] = False
    log.flush()
    log.close()
    assert sizes[0] == 1000  # the failed batch spanned several free runs
    assert set(sizes) == {1000}  # each retry took the whole batch back, none of it lost
    assert [r["i"] for r in read_records(path) if r["event"] == "tick"] == list(range(1000))
    assert verify(path).ok

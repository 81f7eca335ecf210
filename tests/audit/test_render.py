"""The writer's fast paths render exactly what the plain definitions do: the time stamp as
``datetime.isoformat`` writes it, and each chained line as ``seal(canonical(record))``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentguard.audit import AuditLog, _log, read_records
from agentguard.audit._chain import GENESIS, canonical, seal, seal_chain
from agentguard.settings import Durability


def _isoformat(ns: int) -> str:
    sec, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(sec, UTC).replace(microsecond=rest // 1000)
    return stamp.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "ns",
    [
        0,
        999,
        1_000,
        1_000_000,
        1_700_000_000_000_000_000,
        1_700_000_000_999_999_999,
        1_700_000_001_000_000_000,
    ],
)
def test_time_stamp_edges(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    monkeypatch.setattr(_log, "_time_ns", lambda: ns)
    assert _log.iso_now() == _isoformat(ns)


@given(st.lists(st.integers(0, 4_102_444_800 * 10**9), min_size=1, max_size=20))
def test_time_stamp_is_isoformat(stamps: list[int]) -> None:
    # several in a row: the cached second must be replaced when the second changes
    real = _log._time_ns
    try:
        for ns in stamps:
            _log._time_ns = lambda ns=ns: ns
            assert _log.iso_now() == _isoformat(ns)
    finally:
        _log._time_ns = real


def _records(n: int) -> list[dict[str, Any]]:
    return [{"event": "e", "n": i, "text": "ü" * (i % 3), "ts": f"t{i}"} for i in range(n)]


@pytest.mark.parametrize("pause", [1, 2, 64])
def test_seal_chain_is_seal_of_canonical(pause: int) -> None:
    records = _records(130)
    lines, last = seal_chain(records, 7, GENESIS, pause)
    prev = GENESIS
    for seq, (record, line) in enumerate(zip(_records(130), lines, strict=True), 7):
        record["seq"], record["prev"] = seq, prev
        want, prev = seal(canonical(record))
        assert line == want
    assert last == prev
    assert [r["seq"] for r in records] == list(range(7, 137))


def test_a_finite_float_field_is_kept_and_a_non_finite_one_becomes_text() -> None:
    from agentguard.audit._redact import redact_processor

    out = redact_processor(None, "info", {"duration_ms": 0.25, "bad": float("nan"), "big": float("inf")})
    assert out == {"duration_ms": 0.25, "bad": "nan", "big": "inf"}


def test_seal_chain_renders_a_clock_stamp_as_iso_text() -> None:
    """``record()`` leaves the clock's integer in ``ts`` for the writer to format."""
    ns = 1_700_000_000_123_456_789
    (line,), _ = seal_chain([{"event": "e", "ts": ns}], 0, GENESIS, 64)
    want, _ = seal(canonical({"event": "e", "ts": _isoformat(ns), "seq": 0, "prev": GENESIS}))
    assert line == want


@pytest.mark.parametrize("durability", [Durability.BATCH, Durability.FSYNC])
def test_a_record_is_stamped_when_recorded_not_when_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: Durability
) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, durability=durability) as log:
        monkeypatch.setattr(_log, "_time_ns", lambda: 1_700_000_000_000_001_000)
        log.record("early")
        monkeypatch.setattr(_log, "_time_ns", lambda: 1_800_000_000_000_000_000)
        log.record("late")
    assert [r["ts"] for r in read_records(path)] == ["2023-11-14T22:13:20.000001Z", "2027-01-15T08:00:00Z"]

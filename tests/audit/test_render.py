"""The writer's fast paths render exactly what the plain definitions do: the time stamp as
``datetime.isoformat`` writes it, and each chained line as ``seal(canonical(record))``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentguard.audit import _log
from agentguard.audit._chain import GENESIS, canonical, seal, seal_chain


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

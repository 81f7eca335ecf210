"""The provenance benchmark section runs and reports (a smoke run, not a timing test)."""

from __future__ import annotations

from benchmarks import provenance, report


def test_provenance_section_runs_and_is_reported() -> None:
    result = provenance.run(n=50, mb=0.02)
    assert result["session_output_bytes"] >= 20_000
    assert result["index_keys"] > 100
    for key in ("call", "call_batch_audit", "decide_only", "baseline_call"):
        assert result[key]["n"] == 50, key
        assert result[key]["p50_us"] > 0, key
    assert isinstance(result["target_met"], bool)
    md = "\n".join(report._provenance_section(result))
    assert "## Provenance: a guarded call over a session with 1 MB of tool output" in md
    assert "baseline: the same call" in md

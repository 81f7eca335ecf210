"""The AgentDojo packs' provenance rules, case by case, with sessions (no AgentDojo environment needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine, load_cases, run_cases
from benchmarks.agentdojo import POLICIES, SUITES


@pytest.mark.parametrize("suite", SUITES)
def test_case_table(suite: str, tmp_path: Path) -> None:
    cases = load_cases(POLICIES / suite / "cases.yaml")
    assert {Effect.ALLOW, Effect.ASK, Effect.DENY} <= {c.expect for c in cases}
    results = run_cases(
        PolicyEngine.load(POLICIES / suite, workspace=tmp_path), cases, default_agent="agentdojo"
    )
    failures = [
        f"{r.case.label}: want {r.case.expect}, got {r.decision.effect} {r.decision.rule_id}"
        for r in results
        if not r.ok
    ]
    assert failures == []

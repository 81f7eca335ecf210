"""The sandbox benchmark runs end to end at its smallest size (not a timing assertion)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def load_benchmark() -> Any:
    """benchmarks/sandbox.py by path: `benchmarks` may name another package on sys.path here."""
    spec = importlib.util.spec_from_file_location(
        "agentguard_benchmark_sandbox", REPO / "benchmarks" / "sandbox.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick(images: Any, tmp_path: Path) -> None:
    run = load_benchmark().run
    out = tmp_path / "sandbox.json"
    result = run(quick=True, results_path=out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    latency = result["latency_ms"]
    assert {"warm_pool", "cold_start", "docker_exec_sdk"} <= set(latency)
    for stats in latency.values():
        assert 0 < stats["min"] <= stats["p50"] <= stats["p95"]
    # Only a sanity relation, not a timing target: a warm container beats starting one.
    assert latency["warm_pool"]["p50"] < latency["cold_start"]["p50"]
    assert set(result["throughput_per_s"]) == {"1", "4", "16"}
    assert all(rate > 0 for rate in result["throughput_per_s"].values())
    assert result["engine_limit_per_s"] > 0
    limit = result["engine_limit_per_s"]
    brackets = result["engine_brackets_per_s"]
    assert len(brackets) == 4
    assert all(0 < rate <= limit for rate in brackets)
    shares = result["throughput_over_engine_limit"]
    assert set(shares) == {"1", "4", "16"}
    assert all(share > 0 for share in shares.values())
    assert set(result["throughput_host_cpu_ms_per_execution"]) == {"1", "4", "16"}
    phases = result["breakdown_ms"]
    assert list(phases) == ["create", "inspect", "attach", "start", "runner_ready", "exchange", "removed"]
    assert all(stats["p50"] > 0 for stats in phases.values())

"""``python -m benchmarks --smoke`` runs every section and writes the report (not a timing test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._engine import connect
from benchmarks import decision, runner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    result = runner.run(
        "smoke", out_dir=out, only=("decision", "overhead", "mcp", "audit", "detectors", "agentdojo")
    )
    return result, out


def test_generated_policies_have_the_rules_asked_for_and_load() -> None:
    text, agents, tools = decision.generate_policy(1_000)
    lines = text.splitlines()
    assert sum(line.startswith("p, ") for line in lines) == 1_000
    assert any(line.startswith("g, ") for line in lines)
    assert any(line.endswith(", deny") for line in lines)
    assert any(line.endswith(", ask") for line in lines)
    assert any(", *, svc" not in line and ".*, " in line for line in lines if line.startswith("p, "))
    assert len(tools) >= 100 * len(decision.VERBS)
    patterns = [line.split(", ")[2] for line in lines if line.startswith("p, ")]
    wildcard_led = sum(p[0] in "*?[" for p in patterns)
    assert len(patterns) // 5 <= wildcard_led < len(patterns) // 3  # a fifth start with a wildcard
    assert any("?" in p and "[" in p for p in patterns)
    assert any("*" in p[1:-1] and p[0] != "*" for p in patterns)  # infix
    assert agents


def test_smoke_run_writes_json_markdown_and_plots(smoke: tuple[dict[str, Any], Path]) -> None:
    _result, out = smoke
    data = json.loads((out / "latest.json").read_text())
    assert data["mode"] == "smoke"
    d = data["decision"]
    assert set(d["speedup_vs_pycasbin"]) == {"10", "1000"} == set(d["p99_us"])
    assert d["verdict_mismatches"] == 0
    assert set(d["memoised_p99_us"]) == set(d["cpu_p99_us"]) == set(d["p99_us"])
    assert all(v["agentguard"] > 0 and v["pycasbin"] > 0 for v in d["load_s"].values())
    assert all(v > 0 for v in d["p99_us"].values())
    assert d["reload"]["rules"] == 1000
    assert 0 < d["reload_grant_s"] < d["reload_full_s"]
    assert d["reload_edit_s"] > 0
    o = data["overhead"]
    assert o["batch"]["call"]["n"] == 300
    assert o["fsync"]["call"]["n"] == 30
    assert isinstance(o["target_met"], bool)
    assert o["guard_call_p50_us"] == o["batch"]["call"]["p50_us"] > 0
    assert o["guard_call_p99_us"] == o["batch"]["call"]["p99_us"] >= o["guard_call_p50_us"]
    assert o["memory"]["call"]["n"] == 300
    m = data["mcp"]
    assert m["direct"]["n"] == m["proxy_batch"]["n"] == m["proxy_fsync"]["n"] == 5
    assert m["proxy_batch"]["p50_ms"] > 0
    assert m["order"] == "interleaved"  # the paths timed call by call, not one after the other
    assert set(m["paired_overhead_p50_ms"]) == {"bare_relay", "proxy_batch", "proxy_fsync"}
    assert m["bare_relay"]["n"] == 5
    a = data["audit"]
    assert a["verify"]["records"] == 1_000
    assert a["verify"]["records_per_s"] > 0
    det = data["detectors"]
    assert det["bytes"] == 1 << 20
    assert isinstance(det["target_met"], bool)
    assert {"secret_best_ms", "pii_best_ms", "redact_best_ms"} <= set(det["inputs"]["one letter"])
    for suite in ("banking", "workspace", "slack"):
        s = data["agentdojo"]["suites"][suite]
        for key in (
            "attacks_stopped",
            "attacks_stopped_by_policy",
            "attacks_stopped_with_person",
            "attacks_total",
            "benign_no_prompt",
            "benign_prompted",
            "benign_broken_by_deny",
            "benign_total",
        ):
            assert isinstance(s[key], int), key
        assert s["benign_total"] == 2
        assert s["attacks_total"] == 2 == s["attacks_stopped"]
        assert s["attacks_stopped_by_policy"] + s["attacks_stopped_with_person"] == 2
        assert s["pairs_total"] == 4 == len(s["pairs"])  # smoke: 2 user tasks x 2 injection tasks
        assert s["pair_attacks_stopped"] == s["pair_attacks"]
    md = (out / "latest.md").read_text()
    for heading in (
        "## Decision latency",
        "## Guarded-call overhead",
        "## MCP proxy overhead",
        "## Audit log",
        "## Detectors on 1 MB arguments",
        "## AgentDojo",
    ):
        assert heading in md
    for png in ("decision_latency.png", "guard_overhead.png", "audit_append.png", "agentdojo.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "not run in this invocation" in md  # the sandbox section was not selected


def test_cli_rejects_an_unknown_section(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", "decision,nope", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown section(s) nope" in proc.stderr
    assert not (tmp_path / "latest.json").exists()


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)  # on a fresh engine the section first builds the sandbox image (debootstrap)
def test_sandbox_section_with_peers(tmp_path: Path) -> None:
    try:
        connect().close()
    except SandboxError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the Docker engine is unreachable: {exc}")
        pytest.skip(f"Docker engine unreachable (set CI=true to make this a failure): {exc}")
    result = runner.run("smoke", out_dir=tmp_path, only=("sandbox",))
    s = result["sandbox"]
    assert s.get("status") is None, s
    assert s["warm_p50_ms"] > 0
    assert s["docker_run_p50_ms"] > 0
    assert s["engine_limit_per_s"] > 0
    assert set(s["throughput_per_s"]) == set(s["throughput_over_engine_limit"]) == {"1", "4", "16"}
    for peer in ("llm_sandbox", "autogen_docker"):
        entry = s["peers"][peer]
        assert entry["status"] in ("ok", "unavailable"), entry
        if entry["status"] == "ok":
            assert entry["latency_ms"]["p50"] > 0
        else:
            assert entry["why"]
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["sandbox"]["warm_p50_ms"] == s["warm_p50_ms"]
    assert (tmp_path / "sandbox_latency.png").is_file()

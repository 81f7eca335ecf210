"""Run every benchmark side by side and write ``latest.json``, ``latest.md`` and the plots.

python -m benchmarks            # full sizes (decision up to 100,000 rules, verify 1,000,000 records)
python -m benchmarks --quick    # small sizes, a few minutes
python -m benchmarks --smoke    # the smallest sizes: what tests/benchmarks runs
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = (
    "decision",
    "overhead",
    "provenance",
    "mcp",
    "audit",
    "detectors",
    "sandbox",
    "egress",
    "agentdojo",
    "shared_db",
)


@dataclass(frozen=True)
class Sizes:
    name: str
    decision: dict[int, tuple[int, int]]
    overhead_batch: int
    overhead_fsync: int
    mcp_calls: int
    audit_fsync: int
    audit_batch: int
    audit_verify: int
    sandbox_quick: bool
    peer_calls: int
    agentdojo_limit: int | None
    detector_repeats: int = 5


def sizes(mode: str) -> Sizes:
    from benchmarks import decision

    if mode == "full":
        return Sizes(
            "full", decision.FULL, 20_000, 1_000, 1_000, 2_000, 200_000, 1_000_000, False, 20, None, 9
        )
    if mode == "quick":
        return Sizes("quick", decision.QUICK, 5_000, 300, 200, 300, 20_000, 10_000, True, 5, None)
    return Sizes("smoke", decision.SMOKE, 300, 30, 5, 30, 1_000, 1_000, True, 1, 2, 1)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in (
        "agentguard",
        "pycasbin",
        "mcp",
        "agentdojo",
        "llm-sandbox",
        "autogen-ext",
        "docker",
        "matplotlib",
    ):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _decision(s: Sizes) -> dict[str, Any]:
    from benchmarks import decision

    return decision.run(s.decision)


def _overhead(s: Sizes) -> dict[str, Any]:
    from benchmarks import overhead

    return overhead.run(n_batch=s.overhead_batch, n_fsync=s.overhead_fsync)


def _provenance(s: Sizes) -> dict[str, Any]:
    from benchmarks import provenance

    return provenance.run(n=min(s.overhead_batch, 5_000), mb=1.0 if s.name != "smoke" else 0.05)


def _mcp(s: Sizes) -> dict[str, Any]:
    from benchmarks import mcp_proxy

    return mcp_proxy.run(s.mcp_calls)


def _audit(s: Sizes) -> dict[str, Any]:
    from benchmarks import audit_log

    return audit_log.run(n_fsync=s.audit_fsync, n_batch=s.audit_batch, n_verify=s.audit_verify)


def _detectors(s: Sizes) -> dict[str, Any]:
    from benchmarks import detectors

    return detectors.run(repeats=s.detector_repeats)


def _sandbox(s: Sizes) -> dict[str, Any]:
    from benchmarks import sandbox, sandbox_peers

    ours = sandbox.run(s.sandbox_quick, results_path=None)  # benchmarks.sandbox keeps its own sandbox.json
    peers = sandbox_peers.run(s.peer_calls)
    latency = ours["latency_ms"]
    warm = latency["warm_pool"]["p50"]
    out: dict[str, Any] = {
        "agentguard": ours,
        "peers": peers,
        "warm_p50_ms": warm,
        "cold_p50_ms": latency["cold_start"]["p50"],
        "docker_run_p50_ms": latency.get("docker_run_cli", {}).get("p50"),
        "docker_exec_p50_ms": latency.get("docker_exec_sdk", {}).get("p50"),
        "warm_p99_ms": latency["warm_pool"]["p99"],
        "throughput_per_s": ours["throughput_per_s"],
        "engine_limit_per_s": ours["engine_limit_per_s"],
        "throughput_over_engine_limit": ours["throughput_over_engine_limit"],
        "breakdown_ms": {phase: v["p50"] for phase, v in ours["breakdown_ms"].items()},
    }
    ratios: dict[str, float | None] = {}
    for name in ("docker_run_cli", "cold_start", "docker_exec_sdk", "docker_exec_cli"):
        if name in latency:
            ratios[f"{name}_p50_over_warm"] = round(latency[name]["p50"] / warm, 2)
    for name in ("llm_sandbox", "autogen_docker"):
        peer = peers[name]
        if peer.get("status") == "ok":
            ratios[f"{name}_p50_over_warm"] = round(peer["latency_ms"]["p50"] / warm, 2)
    out["ratios"] = ratios
    return out


def _egress(s: Sizes) -> dict[str, Any]:
    from benchmarks import egress

    if s.name == "smoke":
        return egress.run(n=5, mb=5, mcp_calls=5, mcp_starts=1)
    if s.name == "quick":
        return egress.run(n=20, mb=100, mcp_calls=20, mcp_starts=2)
    return egress.run()


def _agentdojo(s: Sizes) -> dict[str, Any]:
    from benchmarks.agentdojo import evaluate

    return evaluate(limit=s.agentdojo_limit)


def _shared_db(s: Sizes) -> dict[str, Any]:
    from benchmarks import shared_db

    if s.name == "full":
        return shared_db.run(round_trips=200, per_writer=300, decisions=5000)
    if s.name == "quick":
        return shared_db.run(round_trips=50, per_writer=100, decisions=1000)
    return shared_db.run(round_trips=5, per_writer=5, decisions=50)


RUNNERS: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "decision": _decision,
    "overhead": _overhead,
    "provenance": _provenance,
    "mcp": _mcp,
    "audit": _audit,
    "detectors": _detectors,
    "sandbox": _sandbox,
    "egress": _egress,
    "agentdojo": _agentdojo,
    "shared_db": _shared_db,
}


def run(
    mode: str = "full",
    *,
    out_dir: Path = RESULTS,
    only: tuple[str, ...] = SECTIONS,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Run the selected sections; a section that fails is recorded with its error, the rest still run."""
    s = sizes(mode)
    result: dict[str, Any] = {
        "mode": s.name,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": _versions(),
        "seconds": {},
    }
    for name in only:
        log(f"[benchmarks] {name} ({s.name}) ...")
        started = time.perf_counter()
        try:
            result[name] = RUNNERS[name](s)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            result[name] = {"status": "failed", "why": f"{type(exc).__name__}: {exc}"}
            log(traceback.format_exc())
        result["seconds"][name] = round(time.perf_counter() - started, 1)
        log(f"[benchmarks] {name} done in {result['seconds'][name]} s")
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    from benchmarks import report

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = report.plots(result, out_dir)
    result["plots"] = [p.name for p in plots]
    (out_dir / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "latest.md").write_text(report.markdown(result), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (skips 100,000 rules; verify 10,000)")
    size.add_argument("--smoke", action="store_true", help="the smallest sizes, as the tests run them")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections (default: {','.join(SECTIONS)})"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    result = run(mode, out_dir=args.out, only=only)
    print(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    failed = [name for name in only if result.get(name, {}).get("status") == "failed"]
    if failed:
        print(f"failed sections: {', '.join(failed)} (see latest.json)", file=sys.stderr)
        return 1
    return 0

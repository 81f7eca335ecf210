"""Guarded-call overhead: ``Guard.call`` of an allowed in-process tool vs calling the tool directly.

The guarded call is the whole pipeline: argument validation, a policy decision (with the stat()
that notices edited policy files), and four hash-chained audit records (received, decided,
started, finished). ``batch`` buffers records and fsyncs once per 64; ``fsync`` makes every record
durable before the call goes on. The issue's target is p50 <= 100 us for the batch-mode call.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from pathlib import Path
from typing import Any

from agentguard import Guard
from agentguard.audit import AuditLog
from agentguard.policy import PolicyEngine
from agentguard.settings import Durability, Settings
from benchmarks._stats import ratio, summary_us, time_each

MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
POLICY = """\
p, *, bench.echo, *, allow
p, *, bench.echo, secret(*), deny
p, *, fs.*, path(path, "{home}/.ssh/**"), deny
"""
TARGET_P50_US = 100.0


def echo(text: str, times: int = 1) -> str:
    """The tool: as cheap as a tool can be, so what is measured is the guard."""
    return text * times


def _guarded(tmp: Path, durability: Durability, n: int) -> dict[str, Any]:
    policy = tmp / f"policy-{durability.value}"
    policy.mkdir()
    shutil.copy(MODEL, policy / "model.conf")
    (policy / "policy.csv").write_text(POLICY)
    engine = PolicyEngine.load(policy, workspace=tmp)
    audit = AuditLog(tmp / f"audit-{durability.value}.jsonl", durability=durability)
    settings = Settings(home=tmp, workspace=tmp)
    with Guard(engine, audit=audit, settings=settings, agent="bench") as guard:
        guard.register("bench.echo", echo)
        args = {"text": "hello", "times": 2}
        for _ in range(min(200, n)):
            guard.call("bench.echo", args)
        gc.collect()
        samples = time_each(lambda _: guard.call("bench.echo", args), range(n))
        decide = time_each(lambda _: guard.decide("bench.echo", args), range(min(n, 2000)))
    return {"call": summary_us(samples), "decide_only": summary_us(decide)}


def run(*, n_batch: int, n_fsync: int) -> dict[str, Any]:
    direct = summary_us(time_each(lambda _: echo(text="hello", times=2), range(n_batch)))
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-overhead-") as name:
        tmp = Path(name)
        batch = _guarded(tmp, Durability.BATCH, n_batch)
        fsync = _guarded(tmp, Durability.FSYNC, n_fsync)
    return {
        "direct": direct,
        "batch": batch,
        "fsync": fsync,
        "batch_p50_us": batch["call"]["p50_us"],
        "fsync_p50_us": fsync["call"]["p50_us"],
        "overhead_p50_us": {
            "batch": round(batch["call"]["p50_us"] - direct["p50_us"], 2),
            "fsync": round(fsync["call"]["p50_us"] - direct["p50_us"], 2),
        },
        "slowdown_vs_direct_p50": {
            "batch": ratio(batch["call"]["p50_us"], direct["p50_us"]),
            "fsync": ratio(fsync["call"]["p50_us"], direct["p50_us"]),
        },
        "target_p50_us": TARGET_P50_US,
        "target_met": batch["call"]["p50_us"] <= TARGET_P50_US,
    }

"""Guarded-call overhead: ``Guard.call`` of an allowed in-process tool vs calling the tool directly.

The guarded call is the whole pipeline: argument validation, a policy decision (with the stat()
that notices edited policy files), and four hash-chained audit records (received, decided,
started, finished). ``batch`` queues records for the log's writer thread, which writes and fsyncs
whatever has queued (group commit); ``fsync`` makes every record durable before the call goes on.
``memory`` is the same guard with an in-memory audit sink: the guard's own cost, measured in the
same run. Targets (issue 13): p50 <= 60 us and p99 <= 200 us for the batch-mode call
(``guard_call_p50_us``/``guard_call_p99_us``).
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
from agentguard.testing import MemoryAudit
from benchmarks._stats import ratio, summary_us, time_each

MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
POLICY = """\
p, *, bench.echo, *, allow
p, *, bench.echo, secret(*), deny
p, *, fs.*, path(path, "{home}/.ssh/**"), deny
"""
TARGET_P50_US = 60.0
TARGET_P99_US = 200.0


def echo(text: str, times: int = 1) -> str:
    """The tool: as cheap as a tool can be, so what is measured is the guard."""
    return text * times


def _guarded(tmp: Path, durability: Durability | None, n: int) -> dict[str, Any]:
    """``durability`` None: an in-memory audit sink (the guard alone)."""
    name = durability.value if durability is not None else "memory"
    policy = tmp / f"policy-{name}"
    policy.mkdir()
    shutil.copy(MODEL, policy / "model.conf")
    (policy / "policy.csv").write_text(POLICY)
    engine = PolicyEngine.load(policy, workspace=tmp)
    audit = (
        AuditLog(tmp / f"audit-{name}.jsonl", durability=durability)
        if durability is not None
        else MemoryAudit()
    )
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
        memory = _guarded(tmp, None, n_batch)
        batch = _guarded(tmp, Durability.BATCH, n_batch)
        fsync = _guarded(tmp, Durability.FSYNC, n_fsync)
    p50, p99 = batch["call"]["p50_us"], batch["call"]["p99_us"]
    return {
        "direct": direct,
        "memory": memory,
        "batch": batch,
        "fsync": fsync,
        "guard_call_p50_us": p50,
        "guard_call_p99_us": p99,
        "batch_p50_us": p50,
        "fsync_p50_us": fsync["call"]["p50_us"],
        "overhead_p50_us": {
            "batch": round(batch["call"]["p50_us"] - direct["p50_us"], 2),
            "fsync": round(fsync["call"]["p50_us"] - direct["p50_us"], 2),
        },
        "slowdown_vs_direct_p50": {
            "batch": ratio(batch["call"]["p50_us"], direct["p50_us"]),
            "fsync": ratio(fsync["call"]["p50_us"], direct["p50_us"]),
        },
        "audit_cost_p50_us": round(p50 - memory["call"]["p50_us"], 2),
        "target_p50_us": TARGET_P50_US,
        "target_p99_us": TARGET_P99_US,
        "target_met": p50 <= TARGET_P50_US and p99 <= TARGET_P99_US,
    }

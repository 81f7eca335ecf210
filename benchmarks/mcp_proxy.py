"""MCP proxy overhead: the same ``tools/call`` through ``agentguard mcp-proxy`` and straight to the server.

Both paths are what a desktop MCP client runs: a subprocess spoken to over stdio, here the SDK's own
client. The server is ``benchmarks/mcp_echo_server.py`` (one ``echo`` tool). The proxied path adds a
process hop, argument validation against the tool's schema, the policy decision and four audit
records, with batched (group commit in a writer thread) and per-record fsync durability.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

from benchmarks._stats import ratio, summary_us

SERVER = Path(__file__).with_name("mcp_echo_server.py")
RELAY = Path(__file__).with_name("mcp_relay.py")
MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
POLICY = "p, *, mcp.echo.echo, *, allow\n"
WARMUP = 20


async def _timed_calls(command: list[str], env: dict[str, str] | None, n: int, errlog: Path) -> list[float]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    samples: list[float] = []
    with errlog.open("a") as err:
        async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as client:
            with anyio.fail_after(60):
                await client.initialize()
            for i in range(WARMUP + n):
                start = time.perf_counter()
                result = await client.call_tool("echo", {"text": f"hello {i}"})
                elapsed = time.perf_counter() - start
                if result.is_error:
                    raise RuntimeError(f"the benchmark call failed: {result.content}")
                if i >= WARMUP:
                    samples.append(elapsed)
    return samples


def _ms(samples: list[float]) -> dict[str, Any]:
    us = summary_us(samples)
    return {"n": us["n"], "p50_ms": round(us["p50_us"] / 1000, 3), "p99_ms": round(us["p99_us"] / 1000, 3)}


def run(n: int) -> dict[str, Any]:
    """``n`` timed calls on each path (after a warm-up), one path after the other."""
    server = [sys.executable, str(SERVER)]
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-mcp-") as name:
        tmp = Path(name)
        policy = tmp / "permissions"
        policy.mkdir()
        shutil.copy(MODEL, policy / "model.conf")
        (policy / "policy.csv").write_text(POLICY)
        out: dict[str, Any] = {"calls": n, "server": SERVER.name}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["direct"] = _ms(anyio.run(_timed_calls, server, None, n, tmp / "stderr.log"))
            relay = [sys.executable, str(RELAY), *server]
            out["bare_relay"] = _ms(anyio.run(_timed_calls, relay, None, n, tmp / "stderr.log"))
            for durability in ("batch", "fsync"):
                home = tmp / f"home-{durability}"
                proxy = [sys.executable, "-m", "agentguard.cli", "--home", str(home), "--policy", str(policy)]
                proxy += ["mcp-proxy", "--name", "echo", "--approver", "deny", "--", *server]
                env = {**os.environ, "AGENTGUARD_AUDIT_DURABILITY": durability}
                out[f"proxy_{durability}"] = _ms(anyio.run(_timed_calls, proxy, env, n, tmp / "stderr.log"))
    direct = out["direct"]["p50_ms"]
    out["overhead_p50_ms"] = {d: round(out[f"proxy_{d}"]["p50_ms"] - direct, 3) for d in ("batch", "fsync")}
    # the floor: a process that only copies lines costs this much; the rest is the guard's work
    out["bare_relay_overhead_p50_ms"] = round(out["bare_relay"]["p50_ms"] - direct, 3)
    out["slowdown_vs_direct_p50"] = {
        d: ratio(out[f"proxy_{d}"]["p50_ms"], direct) for d in ("batch", "fsync")
    }
    return out

"""MCP proxy overhead: the same ``tools/call`` through ``agentguard mcp-proxy`` and straight to the server.

Both paths are what a desktop MCP client runs: a subprocess spoken to over stdio, here the SDK's own
client. The server is ``benchmarks/mcp_echo_server.py`` (one ``echo`` tool). The proxied path adds a
process hop, argument validation against the tool's schema, the policy decision and four audit
records, with batched (group commit in a writer thread) and per-record fsync durability.

All four paths (direct, a bare relay, the proxy with each durability) are open at once and their calls
interleaved: iteration ``i`` calls each path once with the same argument, so drift of a shared machine
lands on every path alike instead of on whichever path was timed while it lasted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

from benchmarks._stats import percentile, ratio, summary_us

SERVER = Path(__file__).with_name("mcp_echo_server.py")
RELAY = Path(__file__).with_name("mcp_relay.py")
MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
POLICY = "p, *, mcp.echo.echo, *, allow\n"
WARMUP = 20


PATHS = ("direct", "bare_relay", "proxy_batch", "proxy_fsync")


async def _interleaved(
    commands: dict[str, tuple[list[str], dict[str, str] | None]], n: int, errlog: Path
) -> dict[str, list[float]]:
    """Seconds per call on each path, the paths open together and called in turn: iteration ``i``
    calls every path once with the same argument, starting at a rotating path, so a machine that
    slows down (or a path's background work after its answer) lands on every path alike."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    names = list(commands)
    samples: dict[str, list[float]] = {name: [] for name in names}
    clients: dict[str, ClientSession] = {}
    with errlog.open("a") as err:
        async with contextlib.AsyncExitStack() as stack:
            for name, (command, env) in commands.items():
                params = StdioServerParameters(command=command[0], args=command[1:], env=env)
                read, write = await stack.enter_async_context(stdio_client(params, errlog=err))
                client = await stack.enter_async_context(ClientSession(read, write))
                with anyio.fail_after(60):
                    await client.initialize()
                clients[name] = client
            clock = time.perf_counter
            for i in range(WARMUP + n):
                arguments = {"text": f"hello {i}"}
                first = i % len(names)
                for name in names[first:] + names[:first]:
                    start = clock()
                    result = await clients[name].call_tool("echo", arguments)
                    elapsed = clock() - start
                    if result.is_error:
                        raise RuntimeError(f"the benchmark call failed on {name}: {result.content}")
                    if i >= WARMUP:
                        samples[name].append(elapsed)
    return samples


def _ms(samples: list[float]) -> dict[str, Any]:
    us = summary_us(samples)
    return {"n": us["n"], "p50_ms": round(us["p50_us"] / 1000, 3), "p99_ms": round(us["p99_us"] / 1000, 3)}


def _paired(path: list[float], direct: list[float]) -> float:
    return round(percentile([a - b for a, b in zip(path, direct, strict=True)], 50) * 1000, 3)


def run(n: int) -> dict[str, Any]:
    """``n`` timed calls on each path (after a warm-up), the paths interleaved call by call."""
    server = [sys.executable, str(SERVER)]
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-mcp-") as name:
        tmp = Path(name)
        policy = tmp / "permissions"
        policy.mkdir()
        shutil.copy(MODEL, policy / "model.conf")
        (policy / "policy.csv").write_text(POLICY)
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "direct": (server, None),
            "bare_relay": ([sys.executable, str(RELAY), *server], None),
        }
        for durability in ("batch", "fsync"):
            home = tmp / f"home-{durability}"
            proxy = [sys.executable, "-m", "agentguard.cli", "--home", str(home), "--policy", str(policy)]
            proxy += ["mcp-proxy", "--name", "echo", "--approver", "deny", "--", *server]
            env = {**os.environ, "AGENTGUARD_AUDIT_DURABILITY": durability}
            commands[f"proxy_{durability}"] = (proxy, env)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = anyio.run(_interleaved, commands, n, tmp / "stderr.log")
    out: dict[str, Any] = {"calls": n, "server": SERVER.name, "order": "interleaved"}
    out.update({path: _ms(samples[path]) for path in PATHS})
    direct = out["direct"]["p50_ms"]
    out["overhead_p50_ms"] = {d: round(out[f"proxy_{d}"]["p50_ms"] - direct, 3) for d in ("batch", "fsync")}
    # the floor: a process that only copies lines costs this much; the rest is the guard's work
    out["bare_relay_overhead_p50_ms"] = round(out["bare_relay"]["p50_ms"] - direct, 3)
    # the per-iteration difference (proxy minus direct, same iteration): less exposed to drift still
    out["paired_overhead_p50_ms"] = {
        path: _paired(samples[path], samples["direct"])
        for path in ("bare_relay", "proxy_batch", "proxy_fsync")
    }
    out["slowdown_vs_direct_p50"] = {
        d: ratio(out[f"proxy_{d}"]["p50_ms"], direct) for d in ("batch", "fsync")
    }
    return out

"""The egress proxy and sandboxed MCP servers, each side by side with the unguarded path.

* Per connection: ``n`` sequential HTTP GETs from sandboxed code through the egress proxy (each one a
  ``net.connect`` decided by an ``ip()`` allow rule and audited), against the same GETs from a plain
  container on the test network with no proxy. Timed inside the container, per request.
* Throughput: one download of ``mb`` MB the same two ways.
* MCP: ``mcp-server-time`` behind ``agentguard mcp-proxy``, on the host and with ``--sandbox`` (a
  derived image built with ``sandbox build --pip``): start-up to ``initialize`` and ``tools/call``
  latency.

Traffic goes only to the test internet (``tests/sandbox/internet.py``: servers on a private,
internal Docker network made for the run).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio

from benchmarks._stats import ratio, summary_us

REPO = Path(__file__).resolve().parents[1]
IMAGE = f"agtest-egress-bench-{os.getpid()}:latest"

CLIENT = """
import json, os, sys, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler() if os.environ.get("HTTP_PROXY")
                                     else urllib.request.ProxyHandler({}))
base, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lat = []
for i in range(n):
    t = time.perf_counter()
    opener.open(f"{base}/r{i}", timeout=30).read()
    lat.append(time.perf_counter() - t)
t = time.perf_counter()
r = opener.open(f"{base}/big/{mb * 1024 * 1024}", timeout=300)
got = 0
while chunk := r.read(1 << 20):
    got += len(chunk)
print(json.dumps({"latency_s": lat, "download_s": time.perf_counter() - t, "bytes": got}))
"""


def _ms(samples: list[float]) -> dict[str, Any]:
    us = summary_us(samples)
    return {"n": us["n"], "p50_ms": round(us["p50_us"] / 1000, 3), "p99_ms": round(us["p99_us"] / 1000, 3)}


def _proxied(client: Any, net: Any, tmp: Path, n: int, mb: int) -> dict[str, Any]:
    from tests.sandbox.egress_setup import make_egress

    rule = f'p, *, net.connect, ip(host, "{net.address}/32"), allow\n'
    tmp.mkdir()
    code = f"import sys\nsys.argv = ['x', {net.http_url!r}, '{n}', '{mb}']\n" + CLIENT
    for eg in make_egress(tmp, net, client, rule, timeout_s=600):
        result = eg.run(code)
        if not result.ok:
            raise RuntimeError(f"proxied run failed: {result.stderr[-500:]}")
        out: dict[str, Any] = json.loads(result.stdout)
        out["audited_connections"] = len(eg.connects())
        return out
    raise RuntimeError("unreachable")


def _direct(client: Any, net: Any, n: int, mb: int) -> dict[str, Any]:
    output = client.containers.run(
        "agentguard-sandbox-python:latest",
        ["python3", "-I", "-c", CLIENT, f"http://{net.address}:8080", str(n), str(mb)],
        network=net.network,
        user="10001:10001",
        read_only=True,
        cap_drop=["ALL"],
        remove=True,
        labels={"agtest": "egress-bench"},
    )
    result: dict[str, Any] = json.loads(output)
    return result


def _mcp_build(home: Path) -> None:
    argv = [sys.executable, "-m", "agentguard.cli", "--home", str(home), "sandbox", "build", "--tag", IMAGE]
    argv += ["--pip", f"mcp-server-time=={version('mcp-server-time')}", "--pip", f"mcp=={version('mcp')}"]
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})


async def _mcp_timings(command: list[str], cwd: Path, n: int) -> tuple[float, list[float]]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=command[0], args=command[1:], env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(cwd)
    )
    start = time.perf_counter()
    samples: list[float] = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        with anyio.fail_after(120):
            await session.initialize()
        started = time.perf_counter() - start
        for i in range(5 + n):
            t = time.perf_counter()
            result = await session.call_tool("get_current_time", {"timezone": "UTC"})
            if result.is_error:
                raise RuntimeError(f"tools/call failed: {result.content}")
            if i >= 5:
                samples.append(time.perf_counter() - t)
    return started, samples


def _mcp(tmp: Path, n: int, starts: int) -> dict[str, Any]:
    from agentguard.settings import DEFAULT_POLICY_DIR

    policy = tmp / "mcp-policy"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text("p, *, mcp.time.*, *, allow\n")
    cwd = tmp / "mcp-cwd"
    cwd.mkdir()
    (cwd / "agentguard.toml").write_text('[sandbox.profiles.mcp]\nnetwork = "policy"\n')
    _mcp_build(tmp / "build-home")
    base = [sys.executable, "-m", "agentguard.cli", "--home", str(tmp / "h"), "--policy", str(policy)]
    base += ["mcp-proxy", "--name", "time", "--approver", "deny"]
    paths = {
        "host": [*base, "--", "mcp-server-time"],
        "sandbox": [*base, "--sandbox", "mcp", "--image", IMAGE, "--", "mcp-server-time"],
    }
    out: dict[str, Any] = {}
    for name, command in paths.items():
        startup: list[float] = []
        calls: list[float] = []
        for _ in range(starts):
            started, samples = anyio.run(_mcp_timings, command, cwd, n)
            startup.append(started)
            calls.extend(samples)
        out[name] = {"startup": _ms(startup), "tools_call": _ms(calls)}
    out["startup_ratio_p50"] = ratio(out["sandbox"]["startup"]["p50_ms"], out["host"]["startup"]["p50_ms"])
    out["tools_call_ratio_p50"] = ratio(
        out["sandbox"]["tools_call"]["p50_ms"], out["host"]["tools_call"]["p50_ms"]
    )
    return out


def run(n: int = 50, mb: int = 100, mcp_calls: int = 50, mcp_starts: int = 3) -> dict[str, Any]:
    """Both egress paths, then both MCP paths; each pair measured back to back in the same run."""
    import docker

    from tests.sandbox.internet import running_internet

    client = docker.from_env()
    out: dict[str, Any] = {"connections": n, "download_mb": mb, "loadavg_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="agtest-egress-bench-") as name, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmp = Path(name)
        try:
            with running_internet(client) as net:
                proxied = _proxied(client, net, tmp / "p", n, mb)
                direct = _direct(client, net, n, mb)
            for label, data in (("proxied", proxied), ("direct", direct)):
                out[label] = {
                    "per_connection": _ms(data["latency_s"]),
                    "download_s": round(data["download_s"], 3),
                    "download_mb_per_s": round(data["bytes"] / 1e6 / data["download_s"], 1),
                }
            out["proxied"]["audited_connections"] = proxied["audited_connections"]
            out["added_latency_p50_ms"] = round(
                out["proxied"]["per_connection"]["p50_ms"] - out["direct"]["per_connection"]["p50_ms"], 3
            )
            out["throughput_ratio"] = ratio(
                out["proxied"]["download_mb_per_s"], out["direct"]["download_mb_per_s"]
            )
            out["mcp"] = _mcp(tmp, mcp_calls, mcp_starts)
        finally:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.api.remove_image(IMAGE, force=True)
            client.close()
    out["loadavg_after"] = list(os.getloadavg())
    return out

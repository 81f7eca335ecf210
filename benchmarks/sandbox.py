"""Sandbox latency and throughput, side by side on the same image, in one run.

    python -m benchmarks.sandbox [--quick]

Call-to-result latency of ``print(6*7)`` through:

* ``warm_pool``: ``Sandbox.run`` with a warm container ready (the pool is refilled and the
  previous container removed before each timed call, so the engine is idle when it starts);
* ``cold_start``: ``Sandbox.run`` with no pool (create + attach + start + run, same hardening);
* ``docker_run_cli``: ``docker run --rm`` with the same hardening flags, same image;
* ``docker_exec_cli`` / ``docker_exec_sdk``: ``docker exec`` into an already running container.

Throughput: executions per second with 1, 4 and 16 concurrent callers sharing one Sandbox
(pool refills and removals included, since they are real costs). Results go to
benchmarks/results/sandbox.json; ``run(quick)`` returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentguard.errors import SandboxError
from agentguard.sandbox import BuildEvent, Sandbox, SandboxSettings, build_images
from agentguard.sandbox._engine import MANAGED, connect, image_name

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"
TARGET_WARM_P50_MS = 30.0
CODE = "print(6*7)"

HARDENED_FLAGS = [
    "--network=none",
    "--read-only",
    "--tmpfs=/tmp:rw,nosuid,nodev,noexec,size=64m",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges:true",
    "--pids-limit=64",
    "--memory=256m",
    "--memory-swap=256m",
    "--cpus=1",
    "--user=10001:10001",
    f"--label={MANAGED}=true",
]


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "min": round(ordered[0], 2),
    }


def _timed(fn: Callable[[], None], n: int, before: Callable[[], None] | None = None) -> dict[str, float]:
    samples = []
    for _ in range(n):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return _stats(samples)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


def _warm_pool(n: int) -> dict[str, float]:
    settings = SandboxSettings(pool_size=2, pool_languages=("python",))
    with Sandbox(settings, reap_orphans=False) as sb:

        def settle() -> None:
            _check(sb.wait_warm("python", count=2, timeout_s=120), "pool did not fill")
            sb.drain()

        def call() -> None:
            r = sb.run("python", CODE)
            _check(r.stdout == "42\n" and r.warm, f"warm call returned {r!r}")

        return _timed(call, n, settle)


def _cold_start(n: int) -> dict[str, float]:
    with Sandbox(SandboxSettings(pool_size=0), reap_orphans=False) as sb:

        def call() -> None:
            r = sb.run("python", CODE)
            _check(r.stdout == "42\n", f"cold call returned {r!r}")

        return _timed(call, n, lambda: sb.drain())


def _docker_run_cli(image: str, n: int) -> dict[str, float]:
    cmd = ["docker", "run", "--rm", *HARDENED_FLAGS, image, "python3", "-c", CODE]

    def call() -> None:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        _check(out == "42\n", f"docker run printed {out!r}")

    return _timed(call, n)


def _docker_exec(api: Any, image: str, n: int) -> dict[str, dict[str, float]]:
    host_config = api.create_host_config(
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,noexec,size=64m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        pids_limit=64,
        mem_limit=256 * 1024 * 1024,
        memswap_limit=256 * 1024 * 1024,
        nano_cpus=1_000_000_000,
    )
    cid = api.create_container(
        image,
        ["sleep", "infinity"],
        user="10001:10001",
        labels={MANAGED: "true"},
        host_config=host_config,
    )["Id"]
    try:
        api.start(cid)

        def sdk() -> None:
            exec_id = api.exec_create(cid, ["python3", "-c", CODE])["Id"]
            out = api.exec_start(exec_id)
            _check(out == b"42\n", f"docker exec (SDK) printed {out!r}")

        def cli() -> None:
            cmd = ["docker", "exec", cid, "python3", "-c", CODE]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            _check(out == "42\n", f"docker exec printed {out!r}")

        result = {"docker_exec_sdk": _timed(sdk, n)}
        if shutil.which("docker"):
            result["docker_exec_cli"] = _timed(cli, n)
        return result
    finally:
        api.remove_container(cid, force=True)  # `sleep` ignores SIGTERM: kill, never stop


def _throughput(concurrency: int, total: int) -> float:
    settings = SandboxSettings(pool_size=4, pool_languages=("python",))
    with Sandbox(settings, reap_orphans=False) as sb:
        sb.wait_warm("python", count=4, timeout_s=120)
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda _: sb.run("python", CODE), range(total)))
        elapsed = time.perf_counter() - start
        _check(all(r.stdout == "42\n" for r in results), "a concurrent call returned a wrong result")
        sb.drain()
    return round(total / elapsed, 2)


def _ensure_image(api: Any) -> str:
    """The python sandbox image, built first (debootstrap, a few minutes) on a machine that lacks it."""
    settings = SandboxSettings()

    def show(event: BuildEvent) -> None:
        if event.state != "progress":
            print(f"[benchmarks] sandbox image: {event.message}", file=sys.stderr, flush=True)

    cache = Path.home() / ".agentguard" / "sandbox"  # where `Sandbox` and the tests keep the rootfs
    statuses = build_images(api, settings, cache_dir=cache, progress=show, languages=("python",))
    if not all(s.present and s.up_to_date for s in statuses):
        raise SandboxError(f"the python sandbox image could not be built: {statuses}")
    return image_name(settings.image_prefix, "python")


def run(quick: bool = False, *, results_path: Path | None = RESULTS) -> dict[str, Any]:
    """Run the benchmark; write JSON to ``results_path`` (None: do not write) and return it."""
    n_warm, n_slow, total = (5, 3, 8) if quick else (40, 15, 48)
    client = connect()
    api = client.api
    image = _ensure_image(api)
    load_before = os.getloadavg()
    latency: dict[str, dict[str, float]] = {}
    latency["warm_pool"] = _warm_pool(n_warm)
    latency["cold_start"] = _cold_start(n_slow)
    if shutil.which("docker"):
        latency["docker_run_cli"] = _docker_run_cli(image, n_slow)
    latency.update(_docker_exec(api, image, n_slow))
    throughput = {str(c): _throughput(c, total) for c in (1, 4, 16)}
    version = api.version()
    result: dict[str, Any] = {
        "benchmark": "sandbox",
        "quick": quick,
        "code": CODE,
        "image": image,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "docker": version.get("Version"),
        },
        "latency_ms": latency,
        "throughput_per_s": throughput,
        "target": {
            "warm_pool_p50_ms": TARGET_WARM_P50_MS,
            "met": latency["warm_pool"]["p50"] <= TARGET_WARM_P50_MS,
        },
    }
    client.close()
    if results_path is not None:
        results_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = results_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        tmp.replace(results_path)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few iterations (a smoke run)")
    args = parser.parse_args()
    result = run(args.quick)
    print(f"{'path':18} {'p50 ms':>8} {'p95 ms':>8} {'n':>4}")
    for name, s in result["latency_ms"].items():
        print(f"{name:18} {s['p50']:8.1f} {s['p95']:8.1f} {s['n']:4d}")
    for c, rate in result["throughput_per_s"].items():
        print(f"throughput, {c:>2} concurrent callers: {rate:.1f} executions/s")
    met = "met" if result["target"]["met"] else "NOT met"
    print(f"target warm-pool p50 <= {TARGET_WARM_P50_MS:g} ms: {met}; results in {RESULTS}")


if __name__ == "__main__":
    main()

"""Sandbox latency and throughput, side by side on the same image, in one run.

    python -m benchmarks.sandbox [--quick]

Call-to-result latency of ``print(6*7)`` through:

* ``warm_pool``: ``Sandbox.run`` with a warm container ready (the pool is refilled and the
  previous container removed before each timed call, so the engine is idle when it starts);
* ``cold_start``: ``Sandbox.run`` with no pool (create + attach + start + run, same hardening);
* ``docker_run_cli``: ``docker run --rm`` with the same hardening flags, same image;
* ``docker_exec_cli`` / ``docker_exec_sdk``: ``docker exec`` into an already running container.

Throughput: executions per second with 1, 4 and 16 concurrent callers sharing one Sandbox, from
the first call until every used container is gone (pool refills and removals included, since they
are real costs), next to ``engine_limit_per_s``: the highest rate at which this engine itself
creates, starts, waits for and removes containers with the same hardening and image (Docker SDK,
command ``true``; a sweep of 1 to 16 concurrent loops, explicit removal and auto-remove). That is
the physical limit for single-use containers. Each throughput run is bracketed by two runs of the
engine's best way and concurrency; ``throughput_over_engine_limit`` divides by the higher bracket,
so a change of the machine's load between the runs does not masquerade as a ratio.
``breakdown_ms``: where one execution's time goes, phase by phase, one at a time. Results go to
benchmarks/results/sandbox.json; ``run(quick)`` returns the same dict.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
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

from docker.errors import NotFound

from agentguard.errors import SandboxError
from agentguard.sandbox import (
    BuildEvent,
    Sandbox,
    SandboxProfile,
    SandboxSettings,
    build_images,
    check_hardening,
    hardening_failures,
)
from agentguard.sandbox._container import Live, PoolKey, await_ready, container_config, exchange
from agentguard.sandbox._engine import MANAGED, PROTOCOL, connect, image_name
from agentguard.sandbox._protocol import ResponseParser, encode_request

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"
TARGET_WARM_P50_MS = 10.0
TARGET_SHARE_OF_ENGINE_LIMIT = 0.7  # at 16 callers
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

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(rank(0.95), 2),
        "p99": round(rank(0.99), 2),
        "min": round(ordered[0], 2),
    }


def _timed(fn: Callable[[], None], n: int, before: Callable[[], object] | None = None) -> dict[str, float]:
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


def _throughput(concurrency: int, total: int) -> dict[str, float]:
    settings = SandboxSettings(pool_size=4, pool_languages=("python",))
    with Sandbox(settings, reap_orphans=False) as sb:
        _check(sb.wait_warm("python", count=4, timeout_s=120), "pool did not fill")
        start, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda _: sb.run("python", CODE), range(total)))
        _check(sb.drain(120), "used containers were not removed")
        elapsed = time.perf_counter() - start
        host_cpu_ms = (time.process_time() - cpu) * 1000 / total  # callers, fillers, remover: this process
        _check(all(r.stdout == "42\n" for r in results), "a concurrent call returned a wrong result")
        _check(len({r.container_id for r in results}) == total, "a container served two calls")
    return {
        "per_s": round(total / elapsed, 2),
        "warm_share": round(sum(r.warm for r in results) / total, 2),
        "host_cpu_ms": round(host_cpu_ms, 2),
    }


def _hardened_config(api: Any, image: str, command: list[str], *, auto_remove: bool) -> dict[str, Any]:
    """``create_container`` arguments of a pool container (same hardening, same image), for ``command``."""
    profile = SandboxProfile()
    config = container_config(
        api, image=image, key=PoolKey("python", "default", profile), workspace=None, call_id="bench"
    )
    host_config = {**config["host_config"], "AutoRemove": auto_remove}
    return {**config, "command": command, "stdin_open": False, "detach": True, "host_config": host_config}


class _Engine:
    """Containers/s this engine creates, starts, waits for and removes (hardened, running ``true``).

    Two ways, since either may be the faster on an engine: ``explicit_remove`` (create, start, wait,
    remove) and ``auto_remove`` (the engine removes the container when it exits; a run ends when all
    are gone, confirmed by listing them).
    """

    WAYS = ("explicit_remove", "auto_remove")

    def __init__(self, api: Any, image: str) -> None:
        self.api = api
        self.configs = {
            "explicit_remove": _hardened_config(api, image, ["true"], auto_remove=False),
            "auto_remove": _hardened_config(api, image, ["true"], auto_remove=True),
        }
        self.ids: set[str] = set()

    def _lifecycle(self, way: str) -> None:
        api = self.api
        cid = api.create_container(**self.configs[way])["Id"]
        self.ids.add(cid)
        if way == "auto_remove":
            api.start(cid)
            with contextlib.suppress(NotFound):  # already exited and removed
                api.wait(cid, timeout=60)
            return
        try:
            api.start(cid)
            _check(api.wait(cid, timeout=60)["StatusCode"] == 0, "`true` failed in a hardened container")
        finally:
            api.remove_container(cid, force=True)

    def _gone(self) -> bool:
        labels = [f"{k}={v}" for k, v in self.configs["auto_remove"]["labels"].items()]
        rows = self.api.containers(all=True, quiet=True, filters={"label": labels})
        return not {row["Id"] for row in rows} & self.ids

    def rate(self, way: str, level: int, n: int) -> float:
        self.ids.clear()
        start = time.perf_counter()
        with ThreadPoolExecutor(level) as pool:
            list(pool.map(self._lifecycle, [way] * n))
        deadline = time.monotonic() + 60
        while not self._gone():
            _check(time.monotonic() < deadline, "engine did not remove its containers")
            time.sleep(0.01)  # polling the engine for the removals it does by itself
        return round(n / (time.perf_counter() - start), 2)

    def sweep(self, levels: tuple[int, ...], per_level: int) -> dict[str, dict[str, float]]:
        """Both ways at each number of concurrent loops."""
        return {
            way: {str(level): self.rate(way, level, max(per_level, 2 * level)) for level in levels}
            for way in self.WAYS
        }


def _breakdown(api: Any, image: str, n: int) -> dict[str, dict[str, float]]:
    """Phase by phase, one execution at a time, the way a pool container is started and used."""
    profile = SandboxProfile()
    key = PoolKey("python", "default", profile)
    config = container_config(api, image=image, key=key, workspace=None, call_id="bench", pooled=True)
    request = encode_request(
        {"protocol": PROTOCOL, "output_bytes": profile.output_bytes, "timeout_s": 10.0, "cwd": "/tmp"},
        CODE.encode(),
    )
    phases: dict[str, list[float]] = {
        k: [] for k in ("create", "inspect", "attach", "start", "runner_ready", "exchange", "removed")
    }
    for _ in range(n):
        marks = [time.perf_counter()]
        cid = api.create_container(**config)["Id"]
        marks.append(time.perf_counter())
        _check(not hardening_failures(check_hardening(api.inspect_container(cid), profile)), "hardening")
        marks.append(time.perf_counter())
        handle = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        marks.append(time.perf_counter())
        api.start(cid)
        marks.append(time.perf_counter())
        live = Live(cid, key, handle._sock, handle, ResponseParser(profile.output_bytes))
        await_ready(live, 60)
        marks.append(time.perf_counter())
        ex = exchange(live, request, timeout_s=11, cap=profile.output_bytes)
        _check(bytes(ex.parser.stdout) == b"42\n", "breakdown run printed something else")
        marks.append(time.perf_counter())
        live.close_socket()
        # The runner exits after its report and the engine removes the container (auto-remove).
        deadline = time.monotonic() + 30
        while api.containers(all=True, quiet=True, filters={"id": cid}):
            _check(time.monotonic() < deadline, "container not removed")
            time.sleep(0.005)  # polling the engine, the way the pool's remover confirms removals
        marks.append(time.perf_counter())
        for name, (a, b) in zip(phases, itertools.pairwise(marks), strict=True):
            phases[name].append((b - a) * 1000)
    return {name: _stats(samples) for name, samples in phases.items()}


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
    n_warm, n_slow, total, n_break = (5, 3, 8, 2) if quick else (60, 15, 48, 8)
    levels, per_level = ((4, 16), 8) if quick else ((1, 4, 8, 16), 12)
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
    breakdown = _breakdown(api, image, n_break)
    # The engine's limit is found by a sweep; then each throughput run is bracketed by two runs of
    # the engine's best way and concurrency (the machine's load moves; ratios stay comparable).
    engine = _Engine(api, image)
    sweep = engine.sweep(levels, per_level)
    best_way, best_level = max(
        ((way, level) for way in sweep for level in sweep[way]), key=lambda wl: sweep[wl[0]][wl[1]]
    )
    bracket = [engine.rate(best_way, int(best_level), per_level * 2)]
    runs = {}
    for c in (1, 4, 16):
        runs[str(c)] = _throughput(c, total)
        bracket.append(engine.rate(best_way, int(best_level), per_level * 2))
    limit = max(max(bracket), *(r for way in sweep.values() for r in way.values()))
    throughput = {c: r["per_s"] for c, r in runs.items()}
    share = {c: round(throughput[c] / max(bracket[i], bracket[i + 1]), 2) for i, c in enumerate(throughput)}
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
        "breakdown_ms": breakdown,
        "throughput_per_s": throughput,
        "throughput_warm_share": {c: r["warm_share"] for c, r in runs.items()},
        "throughput_host_cpu_ms_per_execution": {c: r["host_cpu_ms"] for c, r in runs.items()},
        "engine_limit_per_s": limit,
        "engine_sweep_per_s": sweep,
        "engine_best": {"way": best_way, "concurrency": int(best_level)},
        "engine_brackets_per_s": bracket,
        "throughput_over_engine_limit": share,
        "target": {
            "warm_pool_p50_ms": TARGET_WARM_P50_MS,
            "share_of_engine_limit_at_16": TARGET_SHARE_OF_ENGINE_LIMIT,
            "warm_met": latency["warm_pool"]["p50"] <= TARGET_WARM_P50_MS,
            "throughput_met": share["16"] >= TARGET_SHARE_OF_ENGINE_LIMIT,
        },
    }
    result["target"]["met"] = result["target"]["warm_met"] and result["target"]["throughput_met"]
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
    print(f"{'phase (one at a time)':22} {'p50 ms':>8}")
    for name, s in result["breakdown_ms"].items():
        print(f"{name:22} {s['p50']:8.1f}")
    limit = result["engine_limit_per_s"]
    for c, rate in result["throughput_per_s"].items():
        share = result["throughput_over_engine_limit"][c]
        print(f"throughput, {c:>2} concurrent callers: {rate:.1f} executions/s ({share:.0%} of the engine's)")
    print(f"engine limit: {limit:g} containers/s ({result['engine_best']})")
    target = result["target"]
    print(
        f"targets: warm p50 <= {TARGET_WARM_P50_MS:g} ms {'met' if target['warm_met'] else 'NOT met'}; "
        f"16 callers >= {TARGET_SHARE_OF_ENGINE_LIMIT:.0%} of the engine limit "
        f"{'met' if target['throughput_met'] else 'NOT met'}; results in {RESULTS}"
    )


if __name__ == "__main__":
    main()

"""The same sandbox work through peers on the same image: llm-sandbox and AutoGen's Docker executor.

Both peers are installed for the benchmark only (``pip install llm-sandbox "autogen-ext[docker]"``).
They call ``python`` (not ``python3``) and llm-sandbox writes to ``/sandbox``, so they run on a
derived image: agentguard's sandbox image plus a ``python`` symlink and a writable ``/sandbox``,
built locally (no pulls). Both reuse one container for every call (no isolation between calls);
agentguard uses a fresh hardened container per call. A peer that cannot run is recorded as
``{"status": "unavailable", "why": ...}`` instead of failing the run.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import time
from typing import Any

from agentguard.sandbox import SandboxSettings
from agentguard.sandbox._engine import connect, image_name
from benchmarks._stats import percentile

CODE = "print(6*7)"
PEER_IMAGE = "agentguard-bench-peers:latest"
DOCKERFILE = """\
FROM {base}
USER root
RUN ln -sf /usr/bin/python3 /usr/local/bin/python && mkdir -p /sandbox && chown 10001:10001 /sandbox
USER 10001:10001
"""


def _ms(samples: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {"n": len(ms), "p50": round(percentile(ms, 50), 2), "p95": round(percentile(ms, 95), 2)}


def build_peer_image() -> str:
    base = image_name(SandboxSettings().image_prefix, "python")
    client = connect()
    try:
        client.images.get(base)
        dockerfile = io.BytesIO(DOCKERFILE.format(base=base).encode())
        client.images.build(fileobj=dockerfile, tag=PEER_IMAGE, rm=True, pull=False)
    finally:
        client.close()
    return PEER_IMAGE


def _unavailable(why: str) -> dict[str, Any]:
    return {"status": "unavailable", "why": why[:500]}


def llm_sandbox(image: str, n: int) -> dict[str, Any]:
    try:
        from llm_sandbox import SandboxSession
    except ImportError as exc:
        return _unavailable(f"llm-sandbox is not installed ({exc}); pip install llm-sandbox")
    try:
        started = time.perf_counter()
        session = SandboxSession(
            lang="python", image=image, keep_template=True, verbose=False, skip_environment_setup=True
        )
        session.open()
        open_s = time.perf_counter() - started
        samples = []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                out = session.run(CODE)
                samples.append(time.perf_counter() - t0)
                if out.exit_code != 0 or out.stdout != "42\n":
                    return _unavailable(f"run returned exit {out.exit_code}: {out.stdout!r} {out.stderr!r}")
        finally:
            t0 = time.perf_counter()
            session.close()
            close_s = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - any peer failure is recorded, not raised
        return _unavailable(f"{type(exc).__name__}: {exc}")
    return {
        "status": "ok",
        "mode": "one container reused for every call (default llm-sandbox session)",
        "latency_ms": _ms(samples),
        "session_open_s": round(open_s, 3),
        "session_close_s": round(close_s, 3),
    }


def autogen(image: str, n: int) -> dict[str, Any]:
    try:
        from autogen_core import CancellationToken
        from autogen_core.code_executor import CodeBlock
        from autogen_ext.code_executors.docker import DockerCommandLineCodeExecutor
    except ImportError as exc:
        return _unavailable(
            f"autogen-ext[docker] is not installed ({exc}); pip install 'autogen-ext[docker]'"
        )

    async def measure(work_dir: str) -> dict[str, Any]:
        started = time.perf_counter()
        executor = DockerCommandLineCodeExecutor(image=image, work_dir=work_dir, timeout=60)
        await executor.start()
        start_s = time.perf_counter() - started
        samples = []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                result = await executor.execute_code_blocks(
                    [CodeBlock(code=CODE, language="python")], CancellationToken()
                )
                samples.append(time.perf_counter() - t0)
                if result.exit_code != 0 or result.output.strip() != "42":
                    return _unavailable(f"execute returned exit {result.exit_code}: {result.output!r}")
        finally:
            t0 = time.perf_counter()
            await executor.stop()
            stop_s = time.perf_counter() - t0
        return {
            "status": "ok",
            "mode": "one container reused for every call (DockerCommandLineCodeExecutor)",
            "latency_ms": _ms(samples),
            "start_s": round(start_s, 3),
            "stop_s": round(stop_s, 3),
        }

    try:
        with tempfile.TemporaryDirectory(prefix="agentguard-bench-autogen-") as work_dir:
            os.chmod(work_dir, 0o777)  # the container user (10001) reads the code files written here
            return asyncio.run(measure(work_dir))
    except Exception as exc:  # noqa: BLE001 - any peer failure is recorded, not raised
        return _unavailable(f"{type(exc).__name__}: {exc}")


def run(n: int) -> dict[str, Any]:
    try:
        image = build_peer_image()
    except Exception as exc:  # noqa: BLE001 - no image, no peers: say why
        why = f"cannot build the peer image from agentguard's sandbox image: {type(exc).__name__}: {exc}"
        return {"image": None, "llm_sandbox": _unavailable(why), "autogen_docker": _unavailable(why)}
    return {"image": image, "llm_sandbox": llm_sandbox(image, n), "autogen_docker": autogen(image, n)}

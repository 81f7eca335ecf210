"""Single use under load: with the pool refilled in parallel and callers waiting for in-flight
containers, no container ever runs two executions, and every finished one is removed by the engine."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agentguard.sandbox import Sandbox, SandboxProfile, SandboxSettings, check_hardening

from .conftest import containers_of, wait_until

pytestmark = pytest.mark.docker

# Leaves a mark in the container's /tmp and says whether one was there already: a reused container
# would print "reused". The container's own hostname (its id prefix) is printed too.
MARK = """
import os, socket
seen = os.path.exists('/tmp/used')
open('/tmp/used', 'w').write('x')
print('reused' if seen else 'fresh', socket.gethostname())
"""


def test_concurrent_callers_never_share_a_container(images: Any, docker_client: Any) -> None:
    settings = SandboxSettings(pool_size=2, pool_fillers=4, pool_languages=("python",))
    with Sandbox(settings, client=docker_client, reap_orphans=False) as sb:
        assert sb.wait_warm("python", count=2, timeout_s=120)
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda _: sb.run("python", MARK), range(36)))
        assert all(r.ok for r in results), [r.stderr for r in results if not r.ok]
        words = [r.stdout.split() for r in results]
        assert [w[0] for w in words] == ["fresh"] * 36
        ids = [r.container_id or "" for r in results]
        assert len(set(ids)) == 36
        # The hostname is the id's prefix: the code really ran in the container the result names.
        assert all(cid.startswith(w[1]) for cid, w in zip(ids, words, strict=True))
        assert sb.drain(60), "finished containers were not removed"
        left = {c["Id"] for c in containers_of(sb.api, os.getpid())}
        assert not left & set(ids)
        # What stays is warm, hardened and unused.
        assert left
        for cid in left:
            assert [i.name for i in check_hardening(sb.api.inspect_container(cid)) if not i.ok] == []


def test_callers_beyond_the_pool_are_served_warm_and_the_pool_refills(
    images: Any, docker_client: Any
) -> None:
    settings = SandboxSettings(pool_size=1, pool_fillers=2, pool_languages=("python",))
    with Sandbox(settings, client=docker_client, reap_orphans=False) as sb:
        assert sb.wait_warm("python", timeout_s=120)
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda i: sb.run("python", f"print({i})"), range(6)))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
        assert all(r.warm for r in results)
        assert sb.wait_warm("python", timeout_s=120)
        assert sb.drain(60)
        # Back to its size: the extra containers started for waiting callers were all used.
        assert len(containers_of(sb.api, os.getpid())) == 1


def test_a_long_run_does_not_leave_the_pool_short(images: Any, docker_client: Any) -> None:
    # A taken container holds its pool place only briefly: during a long run the pool refills.
    settings = SandboxSettings(
        pool_size=1,
        pool_languages=("shell",),
        profiles={"long": SandboxProfile(timeout_s=60)},
        default_profile="long",
    )
    with Sandbox(settings, client=docker_client, reap_orphans=False) as sb:
        assert sb.wait_warm("shell", timeout_s=120)
        box: dict[str, Any] = {}
        started = threading.Event()

        def long_run() -> None:
            started.set()
            box["r"] = sb.run("shell", "sleep 20; echo done")

        thread = threading.Thread(target=long_run)
        thread.start()
        try:
            started.wait(10)
            wait_until(lambda: sb.warm_count("shell") == 0, 30, "the warm container to be taken")
            assert sb.wait_warm("shell", timeout_s=15)
            assert thread.is_alive()  # refilled while the run still runs
        finally:
            thread.join(60)
        assert box["r"].stdout == "done\n"
        assert box["r"].warm

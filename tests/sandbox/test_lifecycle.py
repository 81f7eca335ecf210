"""Containers are removed after Ctrl-C, and after the guarding process dies (self-exit or reaping)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentguard.cli import main
from agentguard.sandbox import Sandbox, SandboxSettings, list_managed

from .conftest import containers_of, wait_until

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from agentguard.sandbox import Sandbox, SandboxSettings
sb = Sandbox(SandboxSettings(pool_size=int(sys.argv[1]), pool_languages=("python",)), reap_orphans=False)
if sb.settings.pool_size:
    assert sb.wait_warm("python", count=2, timeout_s=60)
    print("warm", flush=True)
    sys.stdin.read()
sb.run("shell", "sleep 300", timeout_s=600)
"""


def start_child(pool_size: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(pool_size)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def running_sleep(api: Any, pid: int) -> str:
    """Wait until the child's container runs the user's `sleep`; return its id."""
    found: dict[str, str] = {}

    def check() -> bool:
        for c in containers_of(api, pid):
            try:
                procs = api.top(c["Id"])["Processes"] or []
            except Exception:  # noqa: BLE001 - not running yet
                continue
            if any("sleep 300" in " ".join(p) for p in procs):
                found["id"] = c["Id"]
                return True
        return False

    wait_until(check, 60, "the child's sandbox to run `sleep 300`")
    return found["id"]


def test_ctrl_c_removes_the_running_container(images: Any, docker_client: Any) -> None:
    child = start_child(0)
    try:
        cid = running_sleep(docker_client.api, child.pid)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert "KeyboardInterrupt" in err
    # Removed synchronously before the interrupt propagated: gone the moment the process ended.
    assert docker_client.api.containers(all=True, filters={"id": cid}) == []
    assert containers_of(docker_client.api, child.pid) == []


def test_orphans_of_a_killed_process_are_reaped_at_the_next_start(images: Any, docker_client: Any) -> None:
    child = start_child(0)
    try:
        cid = running_sleep(docker_client.api, child.pid)
    finally:
        child.kill()
        child.communicate(timeout=30)
    orphan = next(c for c in list_managed(docker_client.api) if c.id == cid)
    assert orphan.orphaned  # owner pid is dead, on this host
    assert orphan.call_id == "none"  # a cold start without a call id
    assert not orphan.pool
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client) as sb:
        assert cid in {c.id for c in sb.reaped}
    assert docker_client.api.containers(all=True, filters={"id": cid}) == []


def test_sandbox_reap_cli_removes_orphans(images: Any, docker_client: Any) -> None:
    child = start_child(0)
    try:
        cid = running_sleep(docker_client.api, child.pid)
    finally:
        child.kill()
        child.communicate(timeout=30)
    ps = CliRunner().invoke(main, ["sandbox", "ps", "--json"])
    assert ps.exit_code == 0, ps.output
    rows = [json.loads(line) for line in ps.output.splitlines()]
    assert any(r["id"] == cid and r["orphaned"] for r in rows)
    result = CliRunner().invoke(main, ["sandbox", "reap", "--json"])
    assert result.exit_code == 0, result.output
    assert cid in json.loads(result.output)["removed"]
    assert docker_client.api.containers(all=True, filters={"id": cid}) == []


def test_warm_pool_of_a_killed_process_removes_itself(images: Any, docker_client: Any) -> None:
    child = start_child(2)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "warm"
        assert len(containers_of(docker_client.api, child.pid)) >= 2
        child.kill()  # SIGKILL: no cleanup code runs in the child
        child.communicate(timeout=30)
    finally:
        child.kill()
    # The attach connection closes, the idle runners see EOF on stdin, exit, and are auto-removed.
    wait_until(lambda: containers_of(docker_client.api, child.pid) == [], 30, "warm containers to go away")

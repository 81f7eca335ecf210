"""Red team: the rw gate across processes (two guards, a rw sandboxed MCP server) on one workspace.

The engine follows symlinks in a mount's source when a container starts: code running in a rw
container can swap a directory another container is about to mount for a link to any host
directory. One process's gate did not see rw code running in another process, nor a rw MCP server
(whose code runs for as long as it lives); and what such a server made was never set aside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import Sandbox, SandboxProfile, SandboxSettings
from agentguard.sandbox import _sandbox as sandbox_module
from agentguard.sandbox._engine import OWNER_PID

from .conftest import wait_until

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
RW = SandboxProfile(workspace="rw", timeout_s=5)

OTHER_GUARD = """
import sys
from pathlib import Path
from agentguard.sandbox import Sandbox, SandboxProfile, SandboxSettings
with Sandbox(SandboxSettings(pool_size=0), workspace=Path(sys.argv[1]), reap_orphans=False) as sb:
    print(sb.run("shell", sys.argv[2], profile=SandboxProfile(workspace="rw", timeout_s=5)).model_dump_json())
"""


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    other = tmp_path / "other-repo"  # a repository of the user's, outside the workspace
    (other / ".git").mkdir(parents=True)
    (other / "secret.txt").write_text("host secret\n")
    if os.geteuid() == 0:
        for path in (ws, other, *other.rglob("*")):
            os.chown(path, 1000, 1000)
    return ws, other


def test_no_rw_container_is_made_while_another_process_runs_rw_code(
    images: object, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, other = _workspace(tmp_path)
    swapper = f"""
mkdir -p sub/.git && echo '[core]' > sub/.git/config && touch ready
while [ ! -e go ]; do sleep 0.01; done
mv sub sub.real && ln -s {other} sub
"""
    guard = subprocess.Popen(
        [sys.executable, "-c", OTHER_GUARD, str(ws), swapper],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (ws / "ready").exists() or guard.poll() is not None, 120, "the other guard's run")
        assert guard.poll() is None, guard.communicate()
        real_spawn = sandbox_module.spawn

        def spawn_after_the_mounts_are_computed(api: Any, config: dict[str, Any], key: Any) -> Any:
            (ws / "go").touch()  # the other process's code may swap now
            wait_until(lambda: (ws / "sub").is_symlink() or guard.poll() is not None, 60, "the swap")
            return real_spawn(api, config, key)

        monkeypatch.setattr(sandbox_module, "spawn", spawn_after_the_mounts_are_computed)
        with Sandbox(
            SandboxSettings(pool_size=0), workspace=ws, client=docker_client, reap_orphans=False
        ) as sb:
            second = sb.run("shell", "cat /proc/self/mountinfo; cat sub/secret.txt", profile=RW)
    finally:
        _, err = guard.communicate(timeout=60)
    assert guard.returncode == 0, err
    assert "host secret" not in second.stdout
    assert str(other) not in second.stdout


def _launcher(ws: Path, command: str) -> subprocess.Popen[bytes]:
    from agentguard.sandbox._mcp_launch import launch_argv

    argv = launch_argv(
        image="agentguard-sandbox-shell",
        profile_name="rw",
        profile=SandboxProfile(workspace="rw"),
        command=["sh", "-c", command],
        workspace=ws,
        egress_dir=None,
        docker_host=None,
    )
    return subprocess.Popen(
        argv, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_rw_mcp_server_holds_the_gate_and_is_swept_when_it_exits(
    images: object, docker_client: Any, tmp_path: Path
) -> None:
    ws, _ = _workspace(tmp_path)
    server = _launcher(ws, "mkdir -p sub/.git && echo '[core]' > sub/.git/config && touch made && cat")
    try:
        wait_until(lambda: (ws / "made").exists() or server.poll() is not None, 120, "the server to start")
        assert server.poll() is None, server.communicate()
        # A rw container made now could mount what the server's code swaps in: refused, naming it.
        with (
            Sandbox(
                SandboxSettings(pool_size=0), workspace=ws, client=docker_client, reap_orphans=False
            ) as sb,
            pytest.raises(SandboxError, match="rw sandboxed MCP server `sh -c mkdir"),
        ):
            sb.run("shell", "true", profile=RW)
        second = _launcher(ws, "cat")
        _, second_err = second.communicate(timeout=120)
        assert second.returncode == 3
        assert b"cannot start this rw sandboxed MCP server" in second_err
    finally:
        _, err = server.communicate(b"", timeout=120)  # stdin closes: cat ends, the server exits
    assert server.returncode == 0, err
    assert not (ws / "sub" / ".git").exists()
    aside = [p.name for p in (ws / "sub").iterdir() if p.name.startswith(".git.agentguard-quarantine-")]
    assert len(aside) == 1
    assert f"set aside sub/.git -> sub/{aside[0]}".encode() in err
    # The server is gone: rw containers are made again.
    with Sandbox(SandboxSettings(pool_size=0), workspace=ws, client=docker_client, reap_orphans=False) as sb:
        assert sb.run("shell", "echo ok", profile=RW).stdout == "ok\n"


def test_the_server_of_a_killed_launcher_is_removed_before_a_rw_container_is_made(
    images: object, docker_client: Any, tmp_path: Path
) -> None:
    """A launcher killed with SIGKILL leaves its server running, and the gate it held released."""
    ws, _ = _workspace(tmp_path)
    api = docker_client.api
    server = _launcher(ws, "touch made; exec sleep 100000")  # stdin closing does not end it
    try:
        wait_until(lambda: (ws / "made").exists() or server.poll() is not None, 120, "the server to start")
        assert server.poll() is None, server.communicate()
    finally:
        server.kill()
        server.communicate(timeout=60)
    orphans = api.containers(filters={"label": [f"{OWNER_PID}={server.pid}"]})
    assert len(orphans) == 1  # still running: nothing ties it to the dead launcher
    with Sandbox(SandboxSettings(pool_size=0), workspace=ws, client=docker_client, reap_orphans=False) as sb:
        assert sb.run("shell", "echo ok", profile=RW).stdout == "ok\n"
    assert api.containers(all=True, filters={"id": orphans[0]["Id"]}) == []


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_no_container_is_made_below_a_workspace_where_another_process_runs_rw_code(
    images: object, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Nested workspaces (a guard on a monorepo, another on ``frontend/`` in it): the outer code swaps
    the inner workspace itself for a link to a host directory while the inner container is made."""
    ws, other = _workspace(tmp_path)
    inner = ws / "frontend"
    inner.mkdir()
    if os.geteuid() == 0:
        os.chown(inner, 1000, 1000)
    swapper = f"""
touch ready
while [ ! -e go ]; do sleep 0.01; done
mv frontend frontend.real && ln -s {other} frontend
"""
    guard = subprocess.Popen(
        [sys.executable, "-c", OTHER_GUARD, str(ws), swapper],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (ws / "ready").exists() or guard.poll() is not None, 120, "the other guard's run")
        assert guard.poll() is None, guard.communicate()
        real_spawn = sandbox_module.spawn

        def spawn_after_the_mounts_are_computed(api: Any, config: dict[str, Any], key: Any) -> Any:
            (ws / "go").touch()  # the other process's code may swap now (if it still runs)
            wait_until(lambda: inner.is_symlink() or guard.poll() is not None, 60, "the swap")
            return real_spawn(api, config, key)

        monkeypatch.setattr(sandbox_module, "spawn", spawn_after_the_mounts_are_computed)
        with Sandbox(
            SandboxSettings(pool_size=0), workspace=inner, client=docker_client, reap_orphans=False
        ) as sb:
            profile = SandboxProfile(workspace=mode, timeout_s=5)  # type: ignore[arg-type]
            second = sb.run("shell", "cat /proc/self/mountinfo; cat secret.txt", profile=profile)
    finally:
        _, err = guard.communicate(timeout=60)
    assert guard.returncode == 0, err
    assert "host secret" not in second.stdout
    assert str(other) not in second.stdout

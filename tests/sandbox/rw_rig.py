"""What the rw-workspace attack tests share: host git, one rw run on the real engine, the read-only
mounts a workspace gets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from agentguard.sandbox import SandboxSettings
from agentguard.sandbox._protect import protected_mounts
from agentguard.sandbox_api import SandboxRequest, SandboxResult
from agentguard.settings import Settings
from agentguard.tools.execution import DockerBackend


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


def linked_worktree(tmp_path: Path, key: str, value: str) -> Path:
    """A linked worktree ``tmp_path/ws`` of a repository ``tmp_path/main`` (one empty commit) whose
    common config sets ``key`` to ``value``: a config the workspace's own ``.git`` file does not hold."""
    main = tmp_path / "main"
    git("init", "-q", str(main))
    git(
        "-C",
        str(main),
        "-c",
        "user.name=u",
        "-c",
        "user.email=u@e",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "i",
    )
    git("-C", str(main), "config", key, value)
    ws = tmp_path / "ws"
    git("-C", str(main), "worktree", "add", "-q", str(ws))
    return ws


def run_rw(ws: Path, state: Path, script: str, policy_dir: Path | None = None) -> SandboxResult:
    """``script`` run by ``sh`` in a fresh ``workspace-rw`` container on ``ws``, as the workspace's
    owner (uid 1000 when the tests run as root, as the code would on a developer's machine)."""
    if os.geteuid() == 0:
        for path in (ws, *ws.rglob("*")):
            os.chown(path, 1000, 1000, follow_symlinks=False)
    settings = Settings(workspace=ws, policy_dir=policy_dir, home=state, sandbox=SandboxSettings(pool_size=0))
    backend = DockerBackend(settings)
    try:
        return backend.execute(SandboxRequest("shell", script, profile="workspace-rw"))
    finally:
        backend.close()


def read_only(ws: Path) -> set[str]:
    """The targets ``ws``'s rw container mounts read-only."""
    return {str(m["Target"]) for m in protected_mounts(str(ws.resolve())) if m["ReadOnly"]}

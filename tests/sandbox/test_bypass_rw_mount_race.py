"""Red team: code running in one rw container swaps a directory another one is about to mount.

The engine reads a bind mount's source path when the container starts, following symlinks. A new
``sub/.git`` made by a running call gets a read-only mount (and ``sub`` a pin) in the next container;
if the running call swaps ``sub`` for a link to a host directory (another repository of the user)
between the moment the mounts are computed and the start, that directory is mounted in the new
container, writable. Now no rw container is made while rw code runs (``RwGate``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agentguard.sandbox import Sandbox, SandboxProfile, SandboxSettings
from agentguard.sandbox import _sandbox as sandbox_module
from agentguard.sandbox_api import SandboxResult

from .conftest import wait_until

pytestmark = pytest.mark.docker


def test_no_rw_container_is_made_while_rw_code_runs(
    images: object, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    other = tmp_path / "other-repo"  # a repository of the user's, outside the workspace
    (other / ".git").mkdir(parents=True)
    (other / "secret.txt").write_text("host secret\n")
    if os.geteuid() == 0:
        for path in (ws, other, *other.rglob("*")):
            os.chown(path, 1000, 1000)
    swapper = f"""
mkdir -p sub/.git && echo '[core]' > sub/.git/config && touch ready
while [ ! -e go ]; do sleep 0.01; done
mv sub sub.real && ln -s {other} sub
"""
    armed = threading.Event()
    first_done = threading.Event()
    real_spawn = sandbox_module.spawn

    def spawn_after_the_mounts_are_computed(api: Any, config: dict[str, Any], key: Any) -> Any:
        if armed.is_set():
            (ws / "go").touch()  # the running call may swap now
            wait_until(lambda: (ws / "sub").is_symlink() or first_done.is_set(), 60, "the swap")
        return real_spawn(api, config, key)

    monkeypatch.setattr(sandbox_module, "spawn", spawn_after_the_mounts_are_computed)
    profile = SandboxProfile(workspace="rw", timeout_s=5)
    results: list[SandboxResult] = []
    with Sandbox(SandboxSettings(pool_size=0), workspace=ws, client=docker_client, reap_orphans=False) as sb:

        def first() -> None:
            try:
                results.append(sb.run("shell", swapper, profile=profile))
            finally:
                first_done.set()

        thread = threading.Thread(target=first)
        thread.start()
        wait_until(lambda: (ws / "ready").exists(), 60, "the first call to run")
        armed.set()
        second = sb.run("shell", "cat /proc/self/mountinfo; cat sub/secret.txt", profile=profile)
        thread.join(60)
    assert "host secret" not in second.stdout
    assert str(other) not in second.stdout

"""``core.hooksPath`` naming the workspace root: every file there would be a hook host git runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repository")


@pytest.mark.parametrize("value", [".", "./", "sub/.."])
def test_hooks_path_at_the_workspace_root_is_refused(tmp_path: Path, value: str) -> None:
    ws = (tmp_path / "ws").resolve()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "sub").mkdir()
    subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", value], check=True)
    with pytest.raises(SandboxError, match="names the workspace root itself"):
        protected_mounts(str(ws))


def test_hooks_path_outside_the_workspace_needs_no_mount(tmp_path: Path) -> None:
    ws = (tmp_path / "ws").resolve()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (tmp_path / "hooks").mkdir()
    subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", str(tmp_path / "hooks")], check=True)
    assert [m["Target"] for m in protected_mounts(str(ws))] == ["/workspace/.git"]

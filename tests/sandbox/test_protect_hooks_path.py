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


def test_an_unreadable_included_config_does_not_stop_the_sweep(tmp_path: Path) -> None:
    """Code cannot write ``.git/config``, but can break a working-tree file it includes: git then fails
    to read the config, and the sweep must still set aside the ``.git`` the code made."""
    from agentguard.sandbox._quarantine import Watch

    ws = (tmp_path / "ws").resolve()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "shared.gitconfig").write_text("[core]\n\tautocrlf = false\n")
    subprocess.run(["git", "-C", str(ws), "config", "include.path", "../shared.gitconfig"], check=True)
    watch = Watch(str(ws))
    before = watch.snapshot()
    (ws / "shared.gitconfig").write_text("[core\nthis is not a config\n")
    (ws / "sub" / ".git").mkdir(parents=True)
    moved = watch.settle(before)
    assert [m.split(" -> ")[0] for m in moved] == ["sub/.git"]
    assert not (ws / "sub" / ".git").exists()
    with pytest.raises(SandboxError, match="cannot read"):  # before a run: refused, not guessed
        watch.snapshot()


def test_the_users_hooks_path_inside_the_workspace_is_kept_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = (tmp_path / "ws").resolve()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "team-hooks").mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {ws / 'team-hooks'}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    read_only = {m["Target"] for m in protected_mounts(str(ws)) if m["ReadOnly"]}
    assert read_only == {"/workspace/.git", "/workspace/team-hooks"}

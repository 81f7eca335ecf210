"""Review of ``git_dir()``: a git directory the write itself completes, and one the workspace sits in.

git takes a directory for a repository once it holds ``HEAD`` with ``objects/`` and ``refs/`` (or
``HEAD`` with ``commondir``), and reads its ``config`` then: ``core.pager``, ``core.fsmonitor``,
``core.sshCommand`` run commands. ``git_dir()`` looked only at what is there before the call, so an
agent wrote ``evil/config`` (not yet a repository), ``evil/objects/x``, ``evil/refs/x`` and last
``evil/HEAD``: every write passed, and ``git branch`` run in ``evil`` ran the config's pager. The
write that completes a git directory is now a write into one.

The other way round, a workspace that is a worktree kept inside its bare repository
(``git clone --bare URL repo && cd repo && git worktree add main``) had every path in git_dir(): the
bare directory above the workspace holds HEAD, objects and refs. Every write was denied and every
file named config asked. Above the workspace nothing is probed now (``path(path,
"{workspace}/**/.git/**")`` never looked there either).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._gitdirs import in_git_dir

from .conftest import EXAMPLES, PERMISSIONS, decide


def _half_repo(where: Path, *, missing: str) -> None:
    """A directory that is one entry short of a git directory."""
    where.mkdir(parents=True, exist_ok=True)
    for name in ("objects", "refs"):
        if name != missing:
            (where / name).mkdir()
    if missing != "HEAD":
        (where / "HEAD").write_text("ref: refs/heads/main\n")


COMPLETING = [
    ("HEAD", "HEAD"),
    ("objects", "objects/pack/x"),
    ("refs", "refs/heads/main"),
    ("HEAD", "Head"),  # case-folding file systems open it as HEAD
    ("HEAD", "HE\u200cAD"),  # and HFS+ ignores the joiner
]


@pytest.mark.parametrize(("missing", "write"), COMPLETING)
@pytest.mark.parametrize("policy", [PERMISSIONS, EXAMPLES / "trifecta"])
def test_the_write_that_completes_a_git_directory_is_denied(
    workspace: Path, policy: Path, missing: str, write: str
) -> None:
    _half_repo(workspace / "evil", missing=missing)
    engine = PolicyEngine.load(policy, workspace=workspace)
    assert decide(engine, "fs.write", path=f"evil/{write}", content="x").effect is Effect.DENY


def test_the_workspace_root_completed_as_a_bare_repository(workspace: Path) -> None:
    _half_repo(workspace, missing="HEAD")
    engine = PolicyEngine.load(EXAMPLES / "trifecta", workspace=workspace)
    assert decide(engine, "fs.write", path="HEAD", content="ref: refs/heads/main\n").effect is Effect.DENY


def test_a_commondir_completes_one_too(workspace: Path) -> None:
    (workspace / "wt").mkdir()
    (workspace / "wt" / "HEAD").write_text("ref: refs/heads/main\n")
    engine = PolicyEngine.load(EXAMPLES / "trifecta", workspace=workspace)
    assert decide(engine, "fs.write", path="wt/commondir", content="../common\n").effect is Effect.DENY


def test_ordinary_files_with_those_names_are_written(workspace: Path) -> None:
    (workspace / "docs").mkdir()
    (workspace / "docs" / "refs").mkdir()  # no objects: HEAD does not make a repository
    engine = PolicyEngine.load(EXAMPLES / "trifecta", workspace=workspace)
    for path in ("docs/HEAD", "src/objects/model.py", "refs/notes.md", "HEAD", "src/commondir"):
        assert decide(engine, "fs.write", path=path, content="x").effect is Effect.ALLOW, path


def test_in_git_dir_knows_a_completing_write(tmp_path: Path) -> None:
    _half_repo(tmp_path / "r", missing="refs")
    assert in_git_dir(str(tmp_path / "r" / "refs" / "heads" / "main"))
    assert in_git_dir(str(tmp_path / "r" / "refs"))
    assert not in_git_dir(str(tmp_path / "r" / "src" / "refs"))


@pytest.fixture
def worktree_in_bare(tmp_path: Path) -> Path:
    """``git clone --bare URL repo; cd repo; git worktree add main``, laid out by hand."""
    bare = tmp_path / "repo"
    _half_repo(bare, missing="")
    (bare / "config").write_text("[core]\n\tbare = true\n")
    (bare / "worktrees" / "main").mkdir(parents=True)
    (bare / "worktrees" / "main" / "HEAD").write_text("ref: refs/heads/main\n")
    (bare / "worktrees" / "main" / "commondir").write_text("../..\n")
    main = bare / "main"
    (main / "src").mkdir(parents=True)
    (main / ".git").write_text(f"gitdir: {bare / 'worktrees' / 'main'}\n")
    (main / "src" / "config").write_text("debug = true\n")
    return main


@pytest.mark.parametrize("policy", [PERMISSIONS, EXAMPLES / "trifecta"])
def test_a_worktree_inside_its_bare_repository_is_worked_in(worktree_in_bare: Path, policy: Path) -> None:
    engine = PolicyEngine.load(policy, workspace=worktree_in_bare)
    expected = Effect.ASK if policy == PERMISSIONS else Effect.ALLOW
    assert decide(engine, "fs.write", path="src/app.py", content="x").effect is expected
    assert decide(engine, "fs.read", path="src/config").effect is Effect.ALLOW
    # the worktree's own git file and what is above the workspace stay out of reach
    assert decide(engine, "fs.write", path=".git", content="gitdir: /tmp/x\n").effect is Effect.DENY
    assert decide(engine, "fs.write", path="../config", content="x").effect is Effect.DENY


def test_above_the_workspace_is_still_probed_for_paths_outside_it(worktree_in_bare: Path, engine_for) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for("p, *, t, *, allow\np, *, t, git_dir(path), deny")
    assert decide(engine, "t", path=str(worktree_in_bare.parent / "config")).effect is Effect.DENY
    assert decide(engine, "t", path=str(worktree_in_bare / "src" / "config")).effect is Effect.DENY


def test_objects_and_refs_as_executable_files(workspace: Path) -> None:
    """git checks ``objects`` and ``refs`` with ``access(X_OK)``: executable files pass, and git then
    reads the directory's config (its pager ran for ``git config -l``)."""
    evil = workspace / "evil"
    evil.mkdir()
    (evil / "HEAD").write_text("ref: refs/heads/main\n")
    for name in ("objects", "refs"):
        (evil / name).write_text("")
        (evil / name).chmod(0o755)
    assert in_git_dir(str(evil / "config"))
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "fs.write", path="evil/config", content="x").effect is Effect.DENY
    (evil / "refs").chmod(0o644)  # not executable: git does not take it
    assert not in_git_dir(str(evil / "config"))

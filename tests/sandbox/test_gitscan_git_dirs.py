"""Red team: the rw sandbox's walk knew a git directory by ``objects/`` and ``refs/`` directories only.

git's ``is_git_directory`` tests ``objects`` and ``refs`` with ``access(X_OK)`` (executable files
pass) and takes ``HEAD`` with a ``commondir`` (a linked worktree's git directory: objects and refs
are in the common one). Code in a rw sandbox made ``wt/HEAD`` and ``wt/commondir`` naming
``evil/`` (``objects/``, ``refs/``, a ``config`` with ``core.fsmonitor``, no ``HEAD``): host git in
``wt`` read ``evil/config``, and the walk found neither (nothing was set aside, nothing mounted
read-only). The policy's ``git_dir()`` knew them; the sandbox now asks the same definition. No Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.policy._gitdirs import in_git_dir
from agentguard.sandbox._gitscan import enclosing_gits, git_entries
from agentguard.sandbox._quarantine import Watch


def _head(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "HEAD").write_text("ref: refs/heads/main\n")


def _executable(path: Path, mode: int = 0o755) -> None:
    path.write_text("")
    path.chmod(mode)


def plain(d: Path) -> None:
    _head(d)
    (d / "objects").mkdir()
    (d / "refs").mkdir()


def executables(d: Path) -> None:
    _head(d)
    _executable(d / "objects")
    _executable(d / "refs")


def objects_executable(d: Path) -> None:
    _head(d)
    _executable(d / "objects")
    (d / "refs").mkdir()


def refs_not_executable(d: Path) -> None:
    _head(d)
    (d / "objects").mkdir()
    _executable(d / "refs", 0o644)


def links(d: Path) -> None:
    """``objects`` a link to a directory, ``refs`` a link to an executable file."""
    _head(d)
    (d.parent / "store").mkdir(exist_ok=True)
    _executable(d.parent / "store" / "tool")
    (d / "objects").symlink_to(d.parent / "store")
    (d / "refs").symlink_to(d.parent / "store" / "tool")


def dangling_head(d: Path) -> None:
    """An unborn branch in the old layout: ``HEAD`` a symlink into ``refs/``, to nothing yet."""
    d.mkdir(parents=True)
    (d / "objects").mkdir()
    (d / "refs").mkdir()
    (d / "HEAD").symlink_to("refs/heads/main")


def commondir(d: Path) -> None:
    """A linked worktree's git directory: ``HEAD`` and ``commondir``, no objects or refs of its own."""
    common = d.parent / "evil"
    common.mkdir(parents=True, exist_ok=True)
    (common / "objects").mkdir()
    (common / "refs").mkdir()
    _head(d)
    (d / "commondir").write_text("../evil\n")


def no_head(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "objects").mkdir()
    (d / "refs").mkdir()


def head_a_directory(d: Path) -> None:
    (d / "HEAD").mkdir(parents=True)
    (d / "objects").mkdir()
    (d / "refs").mkdir()


def lower_case_head(d: Path) -> None:
    """``head``: the same file as ``HEAD`` only where names fold (not on this file system)."""
    d.mkdir(parents=True)
    (d / "head").write_text("ref: refs/heads/main\n")
    (d / "objects").mkdir()
    (d / "refs").mkdir()


def head_not_a_ref(d: Path) -> None:
    """git reads ``HEAD``'s text; neither reading does (a later write could make it one): wider."""
    plain(d)
    (d / "HEAD").write_text("notes\n")


Layout = Callable[[Path], None]
# (layout, what git says, whether git's answer is what the guard says; False: wider on purpose)
LAYOUTS: list[tuple[Layout, bool, bool]] = [
    (plain, True, True),
    (executables, True, True),
    (objects_executable, True, True),
    (refs_not_executable, False, True),
    (links, True, True),
    (dangling_head, True, True),
    (commondir, True, True),
    (no_head, False, True),
    (head_a_directory, False, True),
    (lower_case_head, False, True),
    (head_not_a_ref, False, False),
]


def _git_takes(d: Path, ceiling: Path) -> bool:
    env = {
        **os.environ,
        "GIT_CEILING_DIRECTORIES": str(ceiling),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"):
        env.pop(key, None)
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", "rev-parse", "--absolute-git-dir"],
        cwd=d,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and Path(proc.stdout.strip()) == d


@pytest.mark.parametrize(("layout", "git_says", "exact"), LAYOUTS, ids=[f.__name__ for f, _, _ in LAYOUTS])
def test_the_walk_the_enclosing_probe_and_git_dir_agree(
    tmp_path: Path, layout: Layout, git_says: bool, exact: bool
) -> None:
    root = (tmp_path / "ws").resolve()
    d = root / "a" / "repo"
    layout(d)
    walk = d in set(git_entries(root))
    (d / "inner").mkdir()
    above = d in enclosing_gits(d / "inner")
    policy = in_git_dir(str(d), str(root))
    assert (walk, above, policy) == (policy, policy, policy)
    assert policy == (git_says if exact else True)
    if shutil.which("git"):
        (d / "inner").rmdir()
        assert _git_takes(d, root) == git_says


@pytest.mark.parametrize("layout", [executables, commondir, links], ids=lambda f: f.__name__)
def test_a_new_disguised_git_directory_is_set_aside(tmp_path: Path, layout: Layout) -> None:
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    watch = Watch(str(ws))
    before = watch.snapshot()
    layout(ws / "wt")
    moved = watch.settle(before)
    assert [m.split(" -> ")[0] for m in moved] == ["wt/HEAD"]
    assert not (ws / "wt" / "HEAD").exists()


def test_a_gitlink_names_are_git_directories_for_both(tmp_path: Path) -> None:
    """A ``.git`` file, and the git directory it names: the walk and ``git_dir()`` both take them."""
    root = (tmp_path / "ws").resolve()
    plain(root / "store" / "sub")
    (root / "sub").mkdir()
    (root / "sub" / ".git").write_text("gitdir: ../store/sub\n")
    found = set(git_entries(root))
    assert {root / "sub" / ".git", root / "store" / "sub"} <= found
    assert all(in_git_dir(str(p), str(root)) for p in found)


@pytest.mark.parametrize("layout", [executables, commondir, links], ids=lambda f: f.__name__)
def test_a_disguised_git_directory_already_there_is_mounted_read_only(tmp_path: Path, layout: Layout) -> None:
    from agentguard.sandbox._protect import protected_mounts

    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    layout(ws / "wt")
    read_only = {m["Target"] for m in protected_mounts(str(ws)) if m["ReadOnly"]}
    assert "/workspace/wt" in read_only
    if layout is commondir:  # the common directory it names: its config is the one git reads
        assert "/workspace/evil" in read_only

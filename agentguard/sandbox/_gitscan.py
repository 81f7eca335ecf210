"""Finding what host git reads in a workspace: every ``.git`` and bare git directory (the walk),
and what a gitlink or ``commondir`` names (what configs name: ``_gitconfig``).

Kept apart from the mounts (``_protect``) and the sweep (``_quarantine``): both read the workspace
the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

# One reading of git directories for the policy's git_dir() and this walk. Loaded with the module, not
# on first use: the sweep after a run must not depend on importing then (a dropped privilege, a changed
# sys.path would stop it).
from agentguard.policy._gitdirs import is_dot_git, is_git_directory, is_head

__all__ = [
    "BARE_NAMES",
    "GIT",
    "bare_head",
    "enclosing_gits",
    "git_entries",
    "gitdir_of",
    "gitdirs_of",
    "hook_links",
    "is_dot_git",
    "read_line",
]

GIT = ".git"
# What git reads or runs in a git directory: kept read-only where the workspace root itself is one
# (a bare repository), and set aside there when new (``commondir`` would send host git elsewhere).
BARE_NAMES = (
    "HEAD",
    "config",
    "config.worktree",
    "commondir",
    "objects",
    "refs",
    "packed-refs",
    "hooks",
    "info",
    "logs",
    "worktrees",
    "modules",
    "shallow",
    "branches",
    "remotes",
    "index",
)


def git_entries(root: Path) -> Iterator[Path]:
    """Every ``.git`` in the workspace, at any depth (without entering them or following symlinks),
    in any case: on a case-insensitive file system (macOS, Windows) ``.GIT`` is what git opens
    (and on HFS+, ``.g\u200cit``: see ``is_dot_git``).
    And every directory git takes as a git directory itself (a bare repository, a linked worktree's
    git directory: the policy's ``is_git_directory``, asked of a directory listing a ``HEAD``),
    which git's discovery opens with no ``.git`` name at all.
    And every directory below ``root`` that cannot be listed (``chmod 111``): git still opens a
    ``.git`` in it by name, so it is kept (mounted read-only, set aside when new) as a whole.
    One ``scandir`` per directory and no ``Path`` but for what is found: every rw call walks the
    whole workspace (``node_modules`` included: a ``.git`` there is opened as well) up to three
    times."""
    start = os.fspath(root)
    stack = [start]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as listing:
                entries = list(listing)
        except OSError:  # cannot be listed (or stopped listing): kept as a whole
            if top != start:
                yield Path(top)
            continue
        head = False
        for entry in entries:
            name = entry.name
            if len(name) == len(GIT) or not name.isascii():  # ``.git`` and ``HEAD`` are both 4 long
                if is_dot_git(name):
                    yield Path(entry.path)  # not entered
                    continue
                head = head or is_head(name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
            except OSError:
                continue
        if head and is_git_directory(top):
            yield Path(top)


def enclosing_gits(root: Path) -> list[Path]:
    """The repositories above the workspace host git may find from inside it (the workspace a
    directory of a larger working tree: ``frontend/`` of a monorepo): each ``.git`` and bare git
    directory among its parents, nearest first. Their configs are out of the code's reach, but
    what they name can lie in the workspace (husky's ``core.hooksPath = frontend/.husky``)."""
    found = []
    for parent in root.parents:
        dot = parent / GIT
        if os.path.lexists(dot):
            found.append(dot)
        elif is_git_directory(os.fspath(parent)):
            found.append(parent)
    return found


def gitdirs_of(entry: Path) -> list[Path]:
    """The git directories (resolved) host git reads configuration from for ``entry`` (a ``.git``
    directory or gitlink, or a bare git directory): it, and the common one ``commondir`` names."""
    gitdir = gitdir_of(entry) if entry.is_file() else entry
    found: list[Path] = []
    while gitdir is not None:
        real = Path(os.path.realpath(gitdir))
        if real in found or not real.is_dir():
            break
        found.append(real)
        common = read_line(real / "commondir")
        gitdir = real / common if common else None
    return found


def hook_links(dirs: Iterable[Path]) -> list[Path]:
    """What symlinks in the hooks directories ``dirs`` name (joined, not resolved; there or not): a
    ``hooks`` that is a link (``.git/hooks -> ../githooks``) and each hook that is one
    (``pre-commit -> ../../scripts/pre-commit``). A working-tree file there is a hook host git runs,
    though the link itself is read-only with its git directory."""
    found: list[Path] = []
    for directory in dirs:
        try:
            if directory.is_symlink():
                directory = directory.parent / os.readlink(directory)
                found.append(directory)
            with os.scandir(directory) as listing:
                links = [entry.path for entry in listing if entry.is_symlink()]
            found.extend(Path(link).parent / os.readlink(link) for link in links)
        except OSError:
            continue
    return found


def bare_head(directory: Path, names: Iterable[str]) -> str | None:
    """The name of ``HEAD`` among ``directory``'s entries (``names``, its listing), when git takes it
    for a git directory (``HEAD`` itself where names do not fold, else the one that opens as it)."""
    heads = [name for name in names if is_head(name)]
    if not heads or not is_git_directory(os.fspath(directory)):
        return None
    return "HEAD" if "HEAD" in heads else heads[0]


def gitdir_of(gitlink: Path) -> Path | None:
    line = read_line(gitlink)
    if line is None or not line.startswith("gitdir:"):
        return None
    return gitlink.parent / line[len("gitdir:") :].strip()


def read_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else None

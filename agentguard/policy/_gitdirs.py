"""``git_dir(arg)``: the path is a git directory or inside one, found as git finds one.

``path(path, "{workspace}/**/.git/**")`` knows git's internals by the name ``.git`` only. git itself
takes any directory holding ``HEAD`` with ``objects/`` and ``refs/`` (or a ``commondir``) for a
repository: a bare clone or mirror (``repo.git``, ``.bare``), a submodule's or a
``--separate-git-dir`` directory under any name. Its ``config`` holds the remote URLs with their
tokens, its ``hooks`` and ``config`` run code; a rule that names ``.git`` passed over them.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from agentguard.policy._argument_conditions import path_fact

if TYPE_CHECKING:
    from agentguard.policy._condition_types import Predicate, _Builder

__all__ = ["f_git_dir", "in_git_dir", "is_dot_git", "is_git_directory", "is_head"]

_GIT = ".git"
# code points HFS+ ignores when it compares names (git's is_hfs_dotgit)
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF], None
)


def is_dot_git(name: str) -> bool:
    """Whether some file system opens ``name`` for ``.git``: any case, HFS+'s ignored code points left out."""
    if name.isascii():
        return len(name) == len(_GIT) and name.casefold() == _GIT
    return name.translate(_HFS_IGNORED).casefold() == _GIT


def is_head(name: str) -> bool:
    """Whether some file system may open ``name`` for ``HEAD`` (as ``is_dot_git`` reads ``.git``):
    the sandbox's walk asks ``is_git_directory`` only of a directory listing one."""
    if name.isascii():
        return len(name) == len("HEAD") and name.casefold() == "head"
    return name.translate(_HFS_IGNORED).casefold() == "head"


def is_git_directory(directory: str) -> bool:
    """Whether git takes ``directory`` for a git directory (its ``is_git_directory``, ``HEAD``'s text
    unread): the one definition ``git_dir()`` and the rw sandbox's walk (``sandbox/_gitscan``) share,
    so neither misses a repository the other keeps (``objects`` an executable file, a ``commondir``)."""
    return _holds_a_repository(directory)


def _holds_a_repository(directory: str, adding: str = "") -> bool:
    """git's ``is_git_directory`` without reading ``HEAD``'s text (a wider test fails closed).

    ``adding``: the entry (casefolded) the call is about to create in ``directory``; it counts as
    there, so the write that completes a repository (``HEAD`` last, after ``config``) is in one."""
    base = directory.rstrip("/") + "/"
    if adding != "head":
        try:  # absent almost everywhere: one failed lstat (a symlink HEAD may dangle: an unborn branch)
            head = os.lstat(base + "HEAD")
        except OSError:
            return False
        if stat.S_ISDIR(head.st_mode):
            return False
    if adding == "commondir" or os.path.isfile(base + "commondir"):
        return True  # a linked worktree's git directory: objects and refs are in the common one
    objects = adding == "objects" or _searchable(base + "objects")
    return objects and (adding == "refs" or _searchable(base + "refs"))


def _searchable(path: str) -> bool:
    """git tests ``objects`` and ``refs`` with ``access(X_OK)``: an executable file passes as well."""
    return os.path.isdir(path) or os.access(path, os.X_OK)


_COMPLETING = frozenset({"head", "objects", "refs", "commondir"})


def in_git_dir(path: str, top: str = "") -> bool:
    """Whether the absolute, resolved ``path`` or one of its parents is a ``.git`` or a git directory,
    or becomes one when ``path`` is created. With ``top`` (the workspace, when ``path`` is in it) no
    parent above ``top`` is looked at: a worktree kept inside its bare repository is worked in."""
    stop = top.rstrip("/") if top and (path == top or path.startswith(top.rstrip("/") + "/")) else ""
    probe, child = path, ""
    while True:
        name = probe[probe.rfind("/") + 1 :]
        if (len(name) == len(_GIT) or not name.isascii()) and is_dot_git(name):
            return True
        if _holds_a_repository(probe, _completing(child)):
            return True
        cut = probe.rfind("/")
        if probe == stop:
            return False
        if cut <= 0:
            return probe != "/" and _holds_a_repository("/", _completing(name))
        probe, child = probe[:cut], name


def _completing(name: str) -> str:
    """``name`` casefolded when creating it may complete a git directory (``Head`` opens ``HEAD``
    where case folds; HFS+ also ignores some code points), else ``""``."""
    if not name.isascii():
        name = name.translate(_HFS_IGNORED)
    folded = name.casefold() if 0 < len(name) <= len("commondir") else ""
    return folded if folded in _COMPLETING else ""


def f_git_dir(b: _Builder) -> Predicate:
    """``git_dir(arg)``: the argument, resolved as ``path()`` resolves it (and handed to the tool so),
    is in a git directory. A value that is not a string is *cannot tell*, as for ``path()``."""
    b.arity(1)
    workspace = b.env.workspace
    return path_fact(b, lambda path, _memo: in_git_dir(path, workspace))

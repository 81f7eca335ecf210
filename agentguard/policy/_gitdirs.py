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

from agentguard.policy._condition_types import _MISSING, _lookup
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._paths import normalise_path

if TYPE_CHECKING:
    from agentguard.policy._condition_types import EvalContext, Predicate, _Builder

__all__ = ["f_git_dir", "in_git_dir", "is_dot_git"]

_GIT = ".git"
# code points HFS+ ignores when it compares names (git's is_hfs_dotgit; sandbox/_gitscan reads alike)
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF], None
)


def is_dot_git(name: str) -> bool:
    """Whether some file system opens ``name`` for ``.git``: any case, HFS+'s ignored code points left out."""
    if name.isascii():
        return len(name) == len(_GIT) and name.casefold() == _GIT
    return name.translate(_HFS_IGNORED).casefold() == _GIT


def _holds_a_repository(directory: str) -> bool:
    """git's ``is_git_directory`` without reading ``HEAD``'s text (a wider test fails closed)."""
    try:  # absent almost everywhere: one failed lstat (a symlink HEAD may dangle: an unborn branch)
        head = os.lstat(directory.rstrip("/") + "/HEAD")
    except OSError:
        return False
    if stat.S_ISDIR(head.st_mode):
        return False
    if os.path.isfile(os.path.join(directory, "commondir")):
        return True  # a linked worktree's git directory: objects and refs are in the common one
    objects, refs = os.path.join(directory, "objects"), os.path.join(directory, "refs")
    return os.path.isdir(objects) and os.path.isdir(refs)


def in_git_dir(path: str) -> bool:
    """Whether the absolute, resolved ``path`` or one of its parents is a ``.git`` or a git directory."""
    probe = path
    while True:
        name = probe[probe.rfind("/") + 1 :]
        if (len(name) == len(_GIT) or not name.isascii()) and is_dot_git(name):
            return True
        if _holds_a_repository(probe):
            return True
        cut = probe.rfind("/")
        if cut <= 0:
            return probe != "/" and _holds_a_repository("/")
        probe = probe[:cut]


def f_git_dir(b: _Builder) -> Predicate:
    """``git_dir(arg)``: the argument, resolved as ``path()`` resolves it (and handed to the tool so),
    is in a git directory. A value that is not a string is *cannot tell*, as for ``path()``."""
    b.arity(1)
    ref = b.ref(0)
    b.path_refs.add(ref)
    workspace = b.env.workspace
    fold = b.env.case_insensitive

    def pred(ctx: EvalContext) -> bool:
        value = _lookup(ctx.arguments, ref)
        if value is _MISSING or value is None:
            return False
        if not isinstance(value, str):
            raise CannotTell(f"{'.'.join(ref)} is a {type(value).__name__}, not a path")
        key = ("path", ref)
        if key in ctx.memo:
            path = ctx.memo[key]
        else:
            path = ctx.memo[key] = normalise_path(value, workspace, fold)
        return path is not None and in_git_dir(path)

    return pred

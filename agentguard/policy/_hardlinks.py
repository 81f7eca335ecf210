"""``hard_linked(arg)``: the path is a regular file with more than one name (``st_nlink > 1``).

The policy decides on names, and a hard link (``ln .env notes.txt``, an archive's hard links,
``cp -al``) gives a credential file a name no rule knows. Its other names cannot be found, but that
it has some can: the shipped policies ask before reading such a file instead of refusing it, since
pnpm's ``node_modules`` is hard links into its store.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from agentguard.policy._condition_types import _MISSING, _lookup
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._paths import normalise_path

if TYPE_CHECKING:
    from agentguard.policy._condition_types import EvalContext, Predicate, _Builder

__all__ = ["f_hard_linked", "has_other_names"]

# Nothing there to read: no file, so no other name. Any other failure is "cannot tell".
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR})


def has_other_names(path: str) -> bool:
    """Whether the resolved ``path`` is a regular file with several links; *cannot tell*
    (``CannotTell``) when it exists but cannot be stat'ed (a permission error, an I/O error)."""
    try:
        st = os.lstat(path)  # resolved already: a symlink here was swapped in since, and is no file
    except OSError as exc:
        if exc.errno in _ABSENT:
            return False
        raise CannotTell(f"cannot stat {path!r}: {exc.strerror}") from None
    return stat.S_ISREG(st.st_mode) and st.st_nlink > 1


def f_hard_linked(b: _Builder) -> Predicate:
    """``hard_linked(arg)``: the argument, resolved as ``path()`` resolves it (and handed to the tool
    so), is a regular file with other names. *Cannot tell* for a value that is not a string."""
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
        return path is not None and has_other_names(path)

    return pred

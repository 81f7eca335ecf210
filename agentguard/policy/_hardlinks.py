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

from agentguard.policy._argument_conditions import path_fact
from agentguard.policy._net_conditions import CannotTell

if TYPE_CHECKING:
    from agentguard.policy._condition_types import Predicate, _Builder

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
    return path_fact(b, has_other_names)

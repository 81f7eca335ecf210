"""``hard_linked(arg)``: the path is a regular file with more than one name (``st_nlink > 1``).

The policy decides on names, and a hard link (``ln .env notes.txt``, an archive's hard links,
``cp -al``) gives a credential file a name no rule knows. Its other names cannot be found, but that
it has some can: the shipped policies ask before reading such a file instead of refusing it, since
pnpm's ``node_modules`` is hard links into its store.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Any

from agentguard.policy._argument_conditions import path_fact
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._paths import looked_up

if TYPE_CHECKING:
    from agentguard.policy._condition_types import Predicate, _Builder

__all__ = ["f_hard_linked", "has_other_names"]


def has_other_names(path: str, memo: dict[Any, Any]) -> bool:
    """Whether the resolved ``path`` is a regular file with several links, as the decision looked it
    up (``looked_up``: the file whose identity the decision hands the tools); *cannot tell*
    (``CannotTell``) when it exists but cannot be stat'ed (a permission error, an I/O error)."""
    try:
        st = looked_up(memo, path)  # resolved already: a symlink here was swapped in since, no file
    except OSError as exc:
        raise CannotTell(f"cannot stat {path!r}: {exc.strerror}") from None
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1


def f_hard_linked(b: _Builder) -> Predicate:
    """``hard_linked(arg)``: the argument, resolved as ``path()`` resolves it (and handed to the tool
    so), is a regular file with other names. *Cannot tell* for a value that is not a string."""
    b.arity(1)
    return path_fact(b, has_other_names)

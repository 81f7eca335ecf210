"""Builtins that evaluate a name argument as code: an array subscript (``read 'a[$(cmd)]'``,
``printf -v``, ``test -v``, an arithmetic variable like ``OPTIND``) or a ``mapfile -C`` callback.

Apart from ``_shellruns`` because it reads one builtin's own options and arguments (a pure function
of its argv); ``_shellruns`` records that such a command cannot be followed.
"""

from __future__ import annotations

from agentguard.policy._shell import Dyn, Word
from agentguard.policy._shellwalk import integer_value

__all__ = ["SUBSCRIPT_BUILTINS", "evaluates"]

# Builtins that evaluate an array subscript in a name argument (a[$(cmd)]) or run a callback.
SUBSCRIPT_BUILTINS = frozenset({"let", "printf", "read", "mapfile", "readarray", "test", "[", "unset",
                                "wait", "getopts", "declare", "typeset", "local", "export",
                                "readonly"})  # fmt: skip
_NO_ASSIGNMENT = frozenset({"test", "[", "unset", "wait"})  # name arguments they never assign


def evaluates(name: str, argv: tuple[Word, ...]) -> bool:
    """Whether a name argument may hold an array subscript (``a[$(cmd)]``) or ``-C`` a callback.

    A word known only at run time in a name position may be one (``printf -v "$n"``)."""
    args = argv[1:]
    if name == "let" or (
        name not in _NO_ASSIGNMENT and any(isinstance(w, str) and integer_value(w) for w in args)
    ):
        return True  # read OPTIND, printf -v RANDOM, export OPTIND=x: the value is arithmetic
    if name == "printf":
        return _printf_name_evaluates(args)
    if name in ("test", "["):
        return _test_evaluates(args)
    if name == "wait":
        option_p = any(isinstance(w, str) and w.startswith("-") and "p" in w for w in args)
        if any(isinstance(w, Dyn) and (option_p or w.multi or k < len(args) - 1)
               for k, w in enumerate(args)):  # fmt: skip
            return True
    elif any(isinstance(w, Dyn) for w in args):
        return True  # read "$n", read a* (a file may be named 'a[$(cmd)]')
    for word in args:
        if not isinstance(word, str):
            continue
        if "[" in word:
            return True
        if name in ("mapfile", "readarray") and word[:1] == "-" and word[1:2] != "-" and "C" in word:
            return True  # -C callback, also in a cluster: -tC 'cmd'
    return False


def _printf_name_evaluates(args: tuple[Word, ...]) -> bool:
    """``printf -v name``: the name (attached or the next word); a run-time word may be ``-v...``."""
    k = 0
    while k < len(args):
        word = args[k]
        if isinstance(word, Dyn):
            return True  # "$fmt" may be -va[$(cmd)]; a glob may expand to -v and a name
        if word == "--" or not word.startswith("-v"):
            return False
        target = word[2:] if len(word) > 2 else (args[k + 1] if k + 1 < len(args) else "")
        if isinstance(target, Dyn) or "[" in target:
            return True
        k += 1 if len(word) > 2 else 2
    return False


def _test_evaluates(args: tuple[Word, ...]) -> bool:
    """``test -v name`` / ``[ -R name ]``; a run-time word (or a glob over file names) may split
    into, or be, ``-v`` and the name."""
    if any(isinstance(w, str) and "[" in w for w in args):
        return True
    dyn = {k: w for k, w in enumerate(args) if isinstance(w, Dyn)}
    if not dyn:
        return False
    if any(w in ("-v", "-R") for w in args):
        return True
    return any(w.multi or k + 1 in dyn for k, w in dyn.items())

"""Matching parsed command lines against ``cmd``/``cmd_any``/``opt`` patterns, in three values.

Every answer is ``True``, ``False`` or ``None`` ("cannot tell": a word, a wrapped script or a whole
line whose meaning is known only when it runs). The engine turns ``None`` into a match for deny
and ask rules and into no match for allow rules.

``cmd_any`` and ``opt`` look at every command that could run: each simple command of the line and
what wrappers run (``sudo``, ``env``, ``timeout``, ``xargs``, ``find -exec``, ``busybox`` ...), the
scripts given to shells (``bash -c``, ``su -c``, ``eval``, here-strings, ``watch``), recursively.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from agentguard.policy._shell import Dyn, Script, ShellParseError, Word, parse_script
from agentguard.policy._shellruns import runs_of

__all__ = ["CommandPattern", "OptionSet", "Tri", "cmd_any_result", "cmd_result", "opt_result"]

Tri = bool | None


@dataclass(frozen=True, slots=True)
class CommandPattern:
    """``git status*``: words matched one by one (``fnmatch`` each); a trailing ``*`` allows more words."""

    words: tuple[str, ...]
    open_ended: bool

    @classmethod
    def parse(cls, pattern: str, *, open_ended: bool = False) -> CommandPattern:
        text = pattern.strip()
        trailing = text.endswith("*") and not text.endswith("\\*")
        if trailing:
            text = text[:-1]
        try:
            words = tuple(shlex.split(text))
        except ValueError as exc:
            raise ValueError(f"bad command pattern {pattern!r}: {exc}") from None
        if not words:
            raise ValueError(f"command pattern {pattern!r} names no command")
        return cls(words, trailing or open_ended)

    def match(self, argv: Sequence[Word], *, basename: bool) -> Tri:
        """Kleene match: a single run-time word at a position makes it ``None`` unless the pattern
        word is ``*``; a word that may become several makes every later position ``None``."""
        result: Tri = True
        n = len(self.words)
        for i, pat in enumerate(self.words):
            if i >= len(argv):
                return False
            word = argv[i]
            if isinstance(word, Dyn):
                if word.multi:
                    return None
                if pat != "*":
                    result = None
                continue
            if i == 0 and basename and "/" in word and "/" not in pat:
                word = posixpath.basename(word)
            if not fnmatchcase(word, pat):
                return False
        if len(argv) > n and not self.open_ended:
            if all(isinstance(w, Dyn) and w.multi for w in argv[n:]):
                return None  # they may expand to nothing
            return False
        return result


@dataclass(frozen=True, slots=True)
class OptionSet:
    """Options as a program's option parser sees them (GNU getopt_long conventions).

    ``--name``, ``--name=value`` and any unambiguous-looking prefix ``--na`` (at least one letter:
    GNU accepts a unique abbreviation, and which ones are unique depends on the program, so every
    prefix counts). ``-x`` also inside a cluster (``-rf`` has ``-r`` and ``-f``; every letter of a
    cluster counts, also those that are really an attached value). ``-name`` (several letters, one
    dash, as ``find`` spells them) only as the whole word or ``-name=...``.
    """

    longs: tuple[str, ...]
    shorts: frozenset[str]
    singles: frozenset[str]

    @classmethod
    def parse(cls, options: Sequence[str]) -> OptionSet:
        longs: list[str] = []
        shorts: set[str] = set()
        singles: set[str] = set()
        for opt in options:
            if opt.startswith("--") and len(opt) > 2 and "=" not in opt and " " not in opt:
                longs.append(opt[2:])
            elif opt.startswith("-") and len(opt) == 2 and opt[1] not in "-= ":
                shorts.add(opt[1])
            elif opt.startswith("-") and len(opt) > 2 and "=" not in opt and " " not in opt:
                singles.add(opt)
            else:
                raise ValueError(f"{opt!r} is not an option (write --name, -x or -name)")
        return cls(tuple(longs), frozenset(shorts), frozenset(singles))

    def find(self, words: Sequence[Word]) -> Tri:
        result: Tri = False
        for word in words:
            if isinstance(word, Dyn):
                found = self._dyn(word)
                if found:
                    return True
                if found is None:
                    result = None
            elif self._static(word):
                return True
        return result

    def _static(self, word: str) -> bool:
        if word.startswith("--"):
            name = word[2:].partition("=")[0]
            return bool(name) and any(long.startswith(name) for long in self.longs)
        if word.startswith("-") and len(word) > 1:
            if word in self.singles or word.partition("=")[0] in self.singles:
                return True
            return any(c in self.shorts for c in word[1:])
        return False

    def _dyn(self, word: Dyn) -> Tri:
        """A run-time word: its static prefix may settle it (``--output=$X``, ``-r$X``, ``src/*``)."""
        prefix = word.prefix
        if prefix.startswith("--") and "=" in prefix and self._static(prefix):
            return True
        if prefix.startswith("-") and not prefix.startswith("--") and self._static(prefix):
            return True  # -r$X is -r plus more letters
        if word.multi and not word.glob:
            return None  # an unquoted expansion splits into words that may be options: a$X, X=" -rf"
        if prefix and not prefix.startswith("-"):
            return False  # globs, braces, ~ and quoted expansions keep the prefix at the front
        if prefix.startswith("--") and "=" in prefix:
            return False  # the option is named in full and it is another one
        return None


# ---------------------------------------------------------------- the three questions


def _parsed(command: str | Script | None) -> Script | None:
    if isinstance(command, str):
        try:
            return parse_script(command)
        except ShellParseError:
            return None
    return command


def cmd_result(command: str | Script | None, patterns: Sequence[CommandPattern]) -> Tri:
    """For allow rules: a plain line whose every command matches (names as written, not basenames)."""
    script = _parsed(command)
    if script is None or script.unknown or runs_of(script).unknown:
        return None  # also a builtin that runs its arguments as code: printf -v 'a[$(cmd)]', trap
    if not script.plain or not script.commands:
        return False
    result: Tri = True
    for simple in script.commands:
        found = _match_any(patterns, simple.words, basename=False)
        if found is False:
            return False
        if found is None:
            result = None
    return result


def _match_any(patterns: Sequence[CommandPattern], argv: Sequence[Word], *, basename: bool) -> Tri:
    result: Tri = False
    for pattern in patterns:
        found = pattern.match(argv, basename=basename)
        if found:
            return True
        if found is None:
            result = None
    return result


def cmd_any_result(command: str | Script | None, patterns: Sequence[CommandPattern]) -> Tri:
    """For deny/ask rules: some command that may run matches; ``None`` if that cannot be ruled out."""
    script = _parsed(command)
    if script is None:
        return None
    runs = runs_of(script)
    result: Tri = None if runs.unknown else False
    for argv in runs.argvs:
        found = _match_any(patterns, argv, basename=True)
        if found:
            return True
        if found is None:
            result = None
    return result


def opt_result(command: str | Script | None, pattern: CommandPattern, options: OptionSet) -> Tri:
    """Some command that may run matches ``pattern`` (as a prefix) and carries one of ``options``."""
    script = _parsed(command)
    if script is None:
        return None
    runs = runs_of(script)
    result: Tri = None if runs.unknown else False
    n = len(pattern.words)
    for argv in runs.argvs:
        head = pattern.match(argv, basename=True)
        if head is False:
            continue
        found = options.find(argv[n:] if head else argv)  # unknown head: any word may be an option
        if head and found:
            return True
        if found is not False:
            result = None
    return result

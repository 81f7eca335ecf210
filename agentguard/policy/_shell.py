"""Shell command rules: a small POSIX-shell lexer that never runs anything.

``cmd`` (for allow rules) matches only plain command lists whose every simple command fits the
pattern; any substitution, expansion, redirection, subshell or brace group makes it false.
``cmd_any`` (for deny/ask rules) matches when any simple command anywhere (inside substitutions,
``sh -c`` strings, behind ``sudo``/``env``/``xargs`` wrappers) fits, and also when the command cannot
be analysed: it fails closed. Quoting is tracked character by character, which ``shlex`` cannot
report, so a ``$`` inside single quotes is data while one inside double quotes is an expansion.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

__all__ = ["CommandPattern", "ShellParseError", "cmd_any_matches", "cmd_matches", "parse_command"]

MAX_COMMAND_CHARS = 100_000
MAX_DEPTH = 16
MAX_WORDS = 1000

_SEPARATORS = frozenset({";", "&", "|", "&&", "||", "|&", ";;", ";&", ";;&", "\n"})
_RESERVED = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case", "esac",
     "!", "{", "}", "time", "function", "select", "coproc", "[[", "]]"}
)  # fmt: skip
_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nice", "nohup", "time", "timeout", "xargs",
     "stdbuf", "ionice", "chroot", "setsid", "unbuffer", "busybox", "strace", "ltrace", "watch", "caffeinate"}
)  # fmt: skip
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox"})
_EVALUATORS = frozenset({"eval"})


class ShellParseError(ValueError):
    """The command is not something this lexer can analyse with confidence."""


@dataclass
class Word:
    text: str = ""
    dynamic: bool = False  # contains $var, ${...}, $(...), backticks: value unknown until run
    quoted: bool = False


@dataclass
class ParsedCommand:
    """The simple commands of a command line plus what makes it unsafe for an allow rule."""

    commands: list[list[Word]] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    nested: list[ParsedCommand] = field(default_factory=list)


class _Lexer:
    def __init__(self, text: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ShellParseError("command nests too deeply")
        self.s = text
        self.depth = depth
        self.out = ParsedCommand()
        self.current: list[Word] = []
        self.word: Word | None = None

    def _word(self) -> Word:
        if self.word is None:
            self.word = Word()
        return self.word

    def _end_word(self) -> None:
        if self.word is not None:
            self.current.append(self.word)
            self.word = None

    def _end_command(self) -> None:
        self._end_word()
        if len(self.current) > MAX_WORDS:
            raise ShellParseError(f"a command with more than {MAX_WORDS} words")
        if self.current:
            self.out.commands.append(self.current)
            self.current = []

    def _nested(self, body: str) -> None:
        self.out.nested.append(_Lexer(body, self.depth + 1).run(0, stop_at_paren=False)[0])

    def run(self, i: int, *, stop_at_paren: bool) -> tuple[ParsedCommand, int]:
        s = self.s
        n = len(s)
        parens = 0
        while i < n:
            c = s[i]
            if c in " \t":
                self._end_word()
                i += 1
            elif c == "\\":
                if i + 1 < n and s[i + 1] == "\n":
                    i += 2
                    continue
                if i + 1 >= n:
                    raise ShellParseError("trailing backslash")
                w = self._word()
                w.text += s[i + 1]
                w.quoted = True
                i += 2
            elif c == "'":
                end = s.find("'", i + 1)
                if end < 0:
                    raise ShellParseError("unterminated single quote")
                w = self._word()
                w.text += s[i + 1 : end]
                w.quoted = True
                i = end + 1
            elif c == '"':
                i = self._double_quoted(i + 1)
            elif c == "$":
                i = self._dollar(i)
            elif c == "`":
                i = self._backtick(i)
            elif c == "#" and self.word is None:
                end = s.find("\n", i)
                i = n if end < 0 else end
            elif c in "<>":
                self.out.unsafe.append("redirection")
                if i + 1 < n and s[i + 1] == "(":
                    self.out.unsafe.append("process substitution")
                    i = self._balanced(i + 2)
                    self._word().dynamic = True
                    continue
                self._end_word()
                i += 1
                while i < n and s[i] in "<>&|-":
                    i += 1
            elif c == "(":
                self.out.unsafe.append("subshell")
                self._end_command()
                parens += 1
                i += 1
            elif c == ")":
                if parens == 0:
                    if stop_at_paren:
                        self._end_command()
                        return self.out, i + 1
                    raise ShellParseError("unbalanced ')'")
                parens -= 1
                self._end_command()
                i += 1
            elif c in ";&|\n":
                if c == "&" and i + 1 < n and s[i + 1] == ">":
                    self.out.unsafe.append("redirection")
                    self._end_word()
                    i += 2
                    continue
                self._end_command()
                i += 1
                while i < n and s[i] in ";&|":
                    i += 1
            else:
                if c in "{}":
                    self.out.unsafe.append("brace expansion or group")
                w = self._word()
                w.text += c
                i += 1
        if stop_at_paren:
            raise ShellParseError("unterminated $(...)")
        if parens:
            raise ShellParseError("unbalanced '('")
        self._end_command()
        return self.out, i

    def _double_quoted(self, i: int) -> int:
        s = self.s
        w = self._word()
        w.quoted = True
        while i < len(s):
            c = s[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < len(s) and s[i + 1] in '$`"\\\n':
                if s[i + 1] != "\n":
                    w.text += s[i + 1]
                i += 2
            elif c == "$":
                i = self._dollar(i)
                w = self._word()
            elif c == "`":
                i = self._backtick(i)
                w = self._word()
            else:
                w.text += c
                i += 1
        raise ShellParseError("unterminated double quote")

    def _dollar(self, i: int) -> int:
        s = self.s
        w = self._word()
        w.dynamic = True
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if nxt == "(":
            self.out.unsafe.append("command substitution")
            if s.startswith("((", i + 1):
                end = self._balanced(i + 3)
                if end >= len(s) or s[end] != ")":
                    raise ShellParseError("unterminated $((...))")
                end += 1
            else:
                end = self._balanced(i + 2)
            w.text += s[i:end]
            return end
        self.out.unsafe.append("variable expansion")
        if nxt == "{":
            end = s.find("}", i + 2)
            if end < 0:
                raise ShellParseError("unterminated ${...}")
            w.text += s[i : end + 1]
            return end + 1
        if nxt in ("'", '"'):
            w.text += "$"
            return i + 1
        j = i + 1
        if j < len(s) and (s[j].isalnum() or s[j] == "_"):
            while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                j += 1
        elif j < len(s) and s[j] in "@*#?$!-":
            j += 1
        w.text += s[i:j]
        return j

    def _backtick(self, i: int) -> int:
        s = self.s
        self.out.unsafe.append("command substitution")
        j = i + 1
        body: list[str] = []
        while j < len(s):
            c = s[j]
            if c == "\\" and j + 1 < len(s) and s[j + 1] in "`$\\":
                body.append(s[j + 1])
                j += 2
                continue
            if c == "`":
                self._nested("".join(body))
                w = self._word()
                w.dynamic = True
                w.text += s[i : j + 1]
                return j + 1
            body.append(c)
            j += 1
        raise ShellParseError("unterminated backtick")

    def _balanced(self, start: int) -> int:
        """Lex ``$(`` ... ``)`` from ``start`` (just after the paren) as a nested command; index after it."""
        inner = _Lexer(self.s, self.depth + 1)
        parsed, end = inner.run(start, stop_at_paren=True)
        self.out.nested.append(parsed)
        return end


def parse_command(text: str) -> ParsedCommand:
    """Split ``text`` into simple commands; raises ``ShellParseError`` when it cannot be analysed."""
    if len(text) > MAX_COMMAND_CHARS:
        raise ShellParseError("command too long to analyse")
    if "\x00" in text:
        raise ShellParseError("NUL byte in command")
    return _Lexer(text, 0).run(0, stop_at_paren=False)[0]


@dataclass(frozen=True, slots=True)
class CommandPattern:
    """``git status*``: words matched one by one (``fnmatch`` each); a trailing ``*`` allows more words."""

    words: tuple[str, ...]
    open_ended: bool

    @classmethod
    def parse(cls, pattern: str) -> CommandPattern:
        text = pattern.strip()
        open_ended = text.endswith("*") and not text.endswith("\\*")
        if open_ended:
            text = text[:-1]
        try:
            words = tuple(shlex.split(text))
        except ValueError as exc:
            raise ValueError(f"bad command pattern {pattern!r}: {exc}") from None
        if not words:
            raise ValueError(f"command pattern {pattern!r} names no command")
        return cls(words, open_ended)

    def matches(self, words: list[str]) -> bool:
        if len(words) < len(self.words) or (not self.open_ended and len(words) != len(self.words)):
            return False
        return all(fnmatchcase(w, p) for w, p in zip(words, self.words, strict=False))


@dataclass(frozen=True, slots=True)
class _AnyOf:
    patterns: tuple[CommandPattern, ...]

    def matches(self, words: list[str]) -> bool:
        return any(p.matches(words) for p in self.patterns)


def _any_of(patterns: CommandPattern | Sequence[CommandPattern]) -> _AnyOf:
    return _AnyOf((patterns,) if isinstance(patterns, CommandPattern) else tuple(patterns))


def cmd_matches(
    command: str | ParsedCommand | None, patterns: CommandPattern | Sequence[CommandPattern]
) -> bool:
    """True only for a plain command list whose every simple command matches one of ``patterns``.

    ``command`` may be pre-parsed; ``None`` stands for a command that did not parse.
    """
    pattern = _any_of(patterns)
    parsed = _parsed(command)
    if parsed is None or parsed.unsafe or parsed.nested or not parsed.commands:
        return False
    for words in parsed.commands:
        if any(w.dynamic for w in words):
            return False
        if not pattern.matches([w.text for w in words]):
            return False
    return True


def cmd_any_matches(
    command: str | ParsedCommand | None, patterns: CommandPattern | Sequence[CommandPattern]
) -> bool:
    """True when any simple command anywhere matches one of ``patterns``, or when it cannot be analysed."""
    pattern = _any_of(patterns)
    parsed = _parsed(command)
    if parsed is None:
        return True
    try:
        return _any(parsed, pattern, 0)
    except ShellParseError:
        return True


def _parsed(command: str | ParsedCommand | None) -> ParsedCommand | None:
    if isinstance(command, str):
        try:
            return parse_command(command)
        except ShellParseError:
            return None
    return command


def _any(parsed: ParsedCommand, pattern: _AnyOf, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return True
    for words in parsed.commands:
        if _simple_any(words, pattern, depth):
            return True
    return any(_any(inner, pattern, depth + 1) for inner in parsed.nested)


def _simple_any(words: list[Word], pattern: _AnyOf, depth: int) -> bool:
    """Try the command as written, then with reserved words, assignments and wrappers peeled off."""
    seen: set[int] = set()
    starts = [0]
    while starts:
        i = starts.pop()
        if i in seen or i >= len(words):
            continue
        seen.add(i)
        head = words[i]
        if head.dynamic:
            return True  # the command name is only known at run time
        texts = [w.text for w in words[i:]]
        if pattern.matches(texts):
            return True
        name = posixpath.basename(head.text) if "/" in head.text else head.text
        if name != head.text and pattern.matches([name, *texts[1:]]):
            return True
        if name in _SHELLS or name in _EVALUATORS:
            script = _inline_script(texts) if name in _SHELLS else " ".join(texts[1:])
            if script is not None:
                try:
                    if _any(parse_command(script), pattern, depth + 1):
                        return True
                except ShellParseError:
                    return True
        if name == "find" and _find_exec_any(texts, pattern):
            return True
        if not head.quoted and (name in _RESERVED or _is_assignment(head.text)):
            starts.append(i + 1)
        elif name in _WRAPPERS:
            # Options of wrappers vary (``sudo -u root``, ``timeout 5``); try every later word as the command.
            starts.extend(range(len(words) - 1, i, -1))
    return False


def _inline_script(texts: list[str]) -> str | None:
    for k, t in enumerate(texts[1:], start=1):
        if t.startswith("-") and "c" in t[1:] and not t.startswith("--"):
            return texts[k + 1] if k + 1 < len(texts) else None
    return None


def _find_exec_any(texts: list[str], pattern: _AnyOf) -> bool:
    for k, t in enumerate(texts):
        if t in ("-exec", "-execdir", "-ok", "-okdir"):
            sub: list[str] = []
            for t2 in texts[k + 1 :]:
                if t2 in (";", "+"):
                    break
                sub.append(t2)
            if sub and (pattern.matches(sub) or pattern.matches([posixpath.basename(sub[0]), *sub[1:]])):
                return True
    return False


def _is_assignment(text: str) -> bool:
    name, eq, _ = text.partition("=")
    return bool(eq) and name.replace("_", "a").isalnum() and not name[:1].isdigit()

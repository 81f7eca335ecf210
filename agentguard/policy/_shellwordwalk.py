"""The words of the walk over tree-sitter-bash's syntax tree: one word from its nodes, expanded only
where that is static (quotes, backslashes, concatenation); anything known only at run time a ``Dyn``.

Apart from the statements (``_shellwalk``, whose ``Walker`` adds them to this class) because a word
is read from its own nodes and text; only a substitution inside one walks statements again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import tree_sitter

from agentguard.policy._shellscript import Dyn, Script, Word
from agentguard.policy._shellwords import CannotTell, ansi_c, dq_unescape, unescape

__all__ = ["NAME", "PLAIN_WORD", "WordWalker", "bare_space"]

_GLOB_CHARS = frozenset("*?[")
PLAIN_WORD = re.compile(r"[^\\*?\[{}()~$`'\"]*\Z")
_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
# What bash reads as a parameter: tree-sitter-bash also reads "$<newline>rm" and "${ rm<newline>}" so
# (bash: a literal "$" and a word "rm"; a bad substitution, or in bash 5.3 a command substitution).
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PARAMETER = re.compile(rf"\$({NAME}|[0-9]|[-*@#?$!])\Z|\$\{{({NAME}|[0-9]+|[-*@#?$!])\}}\Z")


def bare_space(text: str) -> bool:
    """Whether an unquoted word's text holds white space no backslash escapes (bash never does)."""
    if " " not in text and "\t" not in text and "\n" not in text:
        return False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char in " \t\n":
            return True
        i += 1
    return False


class WordWalker:
    """The walker's state and its reading of words; ``_shellwalk.Walker`` adds the statements."""

    def __init__(self, source: bytes, posix: bool) -> None:
        self.src = source
        self.posix = posix  # sh/dash: $'...' is not a quoting form there
        self.in_test = False
        self.out = Script()

    def text(self, node: tree_sitter.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "surrogateescape")

    if TYPE_CHECKING:

        def statements(self, node: tree_sitter.Node, depth: int) -> None: ...

    # ------------------------------------------------------------ words

    def word(self, node: tree_sitter.Node, *more: tree_sitter.Node, depth: int) -> Word:
        """One word from ``node`` and the nodes straight after it (``more``: bash joins ``''\\x``,
        which tree-sitter-bash reads as two words)."""
        if node.type == "word" and not more:  # the common case: no quotes, escapes or expansions
            text = self.text(node)
            if PLAIN_WORD.match(text) and not bare_space(text):
                return text
        source = self.src[node.start_byte : (more[-1] if more else node).end_byte].decode(
            "utf-8", "surrogateescape"
        )
        parts: list[tuple[str, bool]] = []  # (text, quoted); a Dyn part is ("", ...) plus flags
        dyn: list[tuple[int, bool]] = []  # (index into parts, quoted)
        for piece in (node, *more):
            self.pieces(piece, depth, parts, dyn, quoted=False)
        unquoted = "".join(t if not q else "\x00" * len(t) for t, q in parts)
        value = "".join(t for t, _ in parts)
        if "(" in unquoted or ")" in unquoted:
            raise CannotTell("extended glob")
        first = dyn[0][0] if dyn else len(parts)
        prefix = "".join(t for t, _ in parts[:first])
        if dyn:
            return Dyn(source, any(not q for _, q in dyn), prefix)
        if _BRACE.search(unquoted):
            return Dyn(source, True, value[: unquoted.index("{")], glob=True)
        if unquoted.startswith("~"):
            return Dyn(source, False, "~", glob=True)
        glob = next((i for i, c in enumerate(unquoted) if c in _GLOB_CHARS), -1)
        if glob >= 0:
            return Dyn(source, True, value[:glob], glob=True)
        return value

    def pieces(
        self,
        node: tree_sitter.Node,
        depth: int,
        parts: list[tuple[str, bool]],
        dyn: list[tuple[int, bool]],
        *,
        quoted: bool,
    ) -> None:
        kind = node.type
        if kind in ("word", "number") or (kind == "extglob_pattern" and self.in_test):
            text = self.text(node)
            if bare_space(text):
                # bash ends a word at unquoted white space; tree-sitter-bash folds "ls<newline>\\rm"
                # into one command whose argument is "<newline>\\rm": what it read is not what runs
                raise CannotTell("white space inside an unquoted word (the parse is not bash's)")
            parts.extend(unescape(text))  # in [ ], tree-sitter's "pattern" is a word
        elif kind == "raw_string":
            parts.append((self.text(node)[1:-1], True))
        elif kind == "ansi_c_string":
            if self.posix:
                raise CannotTell("$'...' in a POSIX shell")
            parts.append((ansi_c(self.text(node)[2:-1]), True))
        elif kind == "string":
            self.string(node, depth, parts, dyn)
        elif kind == "concatenation":
            for child in node.children:
                if not child.is_named:
                    raise CannotTell(f"unexpected {child.type!r} in a word")
                self.pieces(child, depth, parts, dyn, quoted=quoted)
        elif kind in ("simple_expansion", "expansion") and not _PARAMETER.match(self.text(node)):
            raise CannotTell("parameter expansion not as bash reads it")  # "$<newline>rm", "${ rm<newline>}"
        elif kind == "simple_expansion":
            dyn.append((len(parts), quoted))
            parts.append(("", quoted))
        elif kind == "expansion":
            inner = [c.type for c in node.children]
            if inner not in (["${", "variable_name", "}"], ["${", "special_variable_name", "}"]):
                raise CannotTell("parameter expansion with operators")  # ${x@P}, ${a[$(..)]}, ${x:-$(..)}
            dyn.append((len(parts), quoted))
            parts.append(("", quoted))
        elif kind == "command_substitution":
            if self.text(node).startswith("`"):
                raise CannotTell("backticks")  # their escaping rules are not tree-sitter's
            self.out.plain = False
            self.statements(node, depth + 1)
            dyn.append((len(parts), quoted))
            parts.append(("", quoted))
        elif kind == "process_substitution":
            self.out.plain = False
            self.statements(node, depth + 1)
            dyn.append((len(parts), True))
            parts.append(("", True))
        else:
            raise CannotTell(f"{kind} is not analysed")  # arithmetic, brace_expression, translated $".."

    def string(
        self, node: tree_sitter.Node, depth: int, parts: list[tuple[str, bool]], dyn: list[tuple[int, bool]]
    ) -> None:
        """A double-quoted string from its bytes, so text between tree-sitter's children is kept."""
        pos = node.start_byte + 1
        end = node.end_byte - 1
        for child in node.named_children:
            if child.type == "string_content":
                continue
            parts.append((dq_unescape(self._between(pos, child.start_byte)), True))
            self.pieces(child, depth, parts, dyn, quoted=True)
            pos = child.end_byte
        parts.append((dq_unescape(self._between(pos, end)), True))

    def _between(self, start: int, end: int) -> str:
        return self.src[start:end].decode("utf-8", "surrogateescape")

"""Shell command lines as bash would split them, parsed by tree-sitter-bash; nothing is ever run.

The syntax tree is walked with an explicit allowlist of node types (``_shellwalk``). Anything else
(an unknown node, an ERROR or MISSING node, a construct tree-sitter-bash is known to get wrong:
here-documents, ``case``, backticks, ``$"..."``, arithmetic, ``[[ ]]``) makes the whole line *cannot
tell* (``Script.unknown`` says why). Words are expanded only where that is static: quote removal
(``'..'``, ``".."``, ``$'..'``), backslashes and concatenation. A word whose value is known only when
it runs (``$x``, ``$(..)``, a glob, ``{a,b}``, ``~``) is a :class:`Dyn`. Some lines are cannot tell
before any parse: where bash and tree-sitter-bash are known to split words differently.
"""

from __future__ import annotations

import re
from functools import lru_cache

import tree_sitter
import tree_sitter_bash

from agentguard.policy._shellscript import Dyn, Script, ShellParseError, Simple, Word
from agentguard.policy._shellwalk import EVAL_VARIABLE, MAX_DEPTH, Walker
from agentguard.policy._shellwords import CannotTell

__all__ = [
    "EVAL_VARIABLE",
    "MAX_DEPTH",
    "Dyn",
    "Script",
    "ShellParseError",
    "Simple",
    "Word",
    "parse_script",
]

MAX_COMMAND_CHARS = 100_000

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
# bash joins "a\<newline>b" into one word; tree-sitter-bash splits it into two.
_JOINED_LINE = re.compile(r"[^\s\\]\\\n|\\\n[^\s]")
# Other control characters: bash reads \r, \v, \f as word characters; a parser may not.
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")
# bash reads backslash-tab, and backslash-space, as white space inside the word; tree-sitter-bash ends
# the word at the backslash (a tab anywhere; a space after anything but a word character), so in
# "ls a\\<TAB>#; rm x" or "ls ''\\ #; rm x" it reads "#; rm x" as a comment.
_ESCAPED_TAB = re.compile(r"\\\t|(?<![\w./:@%+,=-])\\ ")


def parse_script(text: str, *, posix: bool = False) -> Script:
    """Every simple command of ``text`` read as bash reads it (``posix``: as sh/dash read it, where
    bash-only quoting is cannot tell); raises ``ShellParseError`` for input over the limits."""
    if len(text) > MAX_COMMAND_CHARS:
        raise ShellParseError("command too long to analyse")
    if "\x00" in text:
        raise ShellParseError("NUL byte in command")
    if len(text) > _CACHED_CHARS:
        return _parse(text, posix)
    return _cached(text, posix)


_CACHED_CHARS = 4096  # longer lines are parsed every time: the cache stays small


@lru_cache(maxsize=512)
def _cached(text: str, posix: bool) -> Script:
    return _parse(text, posix)


def _parse(text: str, posix: bool) -> Script:
    if _JOINED_LINE.search(text):
        return Script(plain=False, unknown="backslash-newline inside a word")
    if _CONTROL.search(text):
        return Script(plain=False, unknown="control character")
    if _ESCAPED_TAB.search(text):
        return Script(plain=False, unknown="backslash before white space (not read as bash reads it)")
    source = text.encode("utf-8", "surrogateescape")
    tree = _PARSER.parse(source)
    root = tree.root_node
    if root.has_error:
        return Script(plain=False, unknown="syntax error")
    walker = Walker(source, posix)
    try:
        walker.statements(root, 0)
    except CannotTell as exc:
        return Script(plain=False, unknown=str(exc))
    except RecursionError:
        return Script(plain=False, unknown="nests too deeply")
    return walker.out

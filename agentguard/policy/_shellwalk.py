"""The walk over tree-sitter-bash's syntax tree: an explicit allowlist of node types, each word
expanded only where that is static (see ``_shell`` for what makes a line *cannot tell*). The
statements are walked here; words are read in ``_shellwordwalk``."""

from __future__ import annotations

import itertools
import re

import tree_sitter

from agentguard.policy._shellscript import Dyn, Simple, Word
from agentguard.policy._shellwords import CannotTell
from agentguard.policy._shellwordwalk import NAME, PLAIN_WORD, WordWalker, bare_space

__all__ = ["EVAL_VARIABLE", "INTEGER_VARIABLES", "MAX_DEPTH", "MAX_WORDS", "Walker", "integer_value"]

MAX_DEPTH = 16  # nested substitutions, compound commands and inline scripts
MAX_WORDS = 1000
# Variables whose value the shell itself runs or expands as code (PS4 under set -x, a file
# sourced at start-up, imported functions, options): assigning them changes what later lines do.
EVAL_VARIABLE = re.compile(r"(PS[0-4]|PROMPT_COMMAND|BASH_ENV|ENV|SHELLOPTS|BASHOPTS|BASH_FUNC_[^=]*)=")
_EVAL_VARIABLE = EVAL_VARIABLE
# bash's integer variables: a value given to them is evaluated as arithmetic, and RANDOM='a[$(cmd)]'
# (or RANDOM=x with x='a[$(cmd)]') runs cmd; only a plain number is known not to.
INTEGER_VARIABLES = frozenset({"RANDOM", "SRANDOM", "OPTIND", "HISTCMD"})


def integer_value(word: str) -> bool:
    """Whether ``word`` names an integer variable (``OPTIND``, ``OPTIND=x``) other than with a number."""
    name, equals, value = word.partition("=")
    return name.removesuffix("+") in INTEGER_VARIABLES and not (
        equals and value.isascii() and value.isdigit()
    )


# "{name}>file" opens a descriptor and stores its number in name; "{a[x]}>file" evaluates x as arithmetic.
_FD_NAME = re.compile(rf"\{{{NAME}\}}\Z")
_NEWLINE = re.compile(rb"(?<!\\)\n")  # a newline no backslash continues
_FD_ARRAY = re.compile(rf"\{{{NAME}\[")


_SEPARATORS = frozenset({";", "&", "\n", "&&", "||", "|", "|&", "(", ")", "{", "}", "do", "done",
                         "then", "fi", "else", "elif", "if", "while", "until", "!", "function", "$(", "<(",
                         ">("})  # fmt: skip
_BLOCKS = frozenset({"subshell", "compound_statement", "do_group", "if_statement", "elif_clause",
                     "else_clause", "while_statement", "negated_command", "function_definition"})  # fmt: skip
_TEST_TOKENS = frozenset({"=", "==", "!=", "!"})


def _join(items: list[Word | list[tree_sitter.Node]], node: tree_sitter.Node) -> None:
    """Add an argument node: to the word before it when nothing separates them (bash joins them)."""
    last = items[-1] if items else None
    if isinstance(last, list) and last[-1].end_byte == node.start_byte:
        last.append(node)
    else:
        items.append([node])


_MAX_FD = 2**31 - 1  # bash reads digits before < or > as a descriptor when they fit an int, else as a word


class Walker(WordWalker):
    # ------------------------------------------------------------ statements

    def statements(self, node: tree_sitter.Node, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise CannotTell("nests too deeply")
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEPARATORS:
                    raise CannotTell(f"unexpected {child.type!r}")
                continue
            self.statement(child, depth)

    def statement(self, node: tree_sitter.Node, depth: int) -> None:
        kind = node.type
        if kind == "comment":
            return
        if kind == "command":
            self.command(node, depth, ())
        elif kind in ("list", "pipeline"):
            self.statements(node, depth)
        elif kind in _BLOCKS:
            self.out.plain = False
            for child in node.children:
                if child.is_named and child.type == "word" and kind == "function_definition":
                    continue  # the function's name
                if child.is_named:
                    self.statement(child, depth + 1)
                elif child.type not in _SEPARATORS:
                    raise CannotTell(f"unexpected {child.type!r} in {kind}")
        elif kind == "for_statement":
            self.out.plain = False
            for child in node.children:
                if child.type == "do_group":
                    self.statement(child, depth + 1)
                elif child.type == "variable_name":
                    if self.text(child) in INTEGER_VARIABLES:
                        raise CannotTell(f"a loop over {self.text(child)}, which evaluates its values")
                elif child.type in ("for", "select", "in", ";", "\n"):
                    continue
                elif child.is_named:
                    self.word(child, depth=depth)  # the list: only its substitutions matter
                else:
                    raise CannotTell(f"unexpected {child.type!r} in for")
        elif kind in ("variable_assignment", "variable_assignments"):
            self.out.plain = False
            self.assignments(node, depth)
        elif kind in ("declaration_command", "unset_command"):
            self.out.plain = False
            words: list[Word] = []
            for child in node.children:
                if not child.is_named:
                    words.append(child.type)  # the keyword: export, declare, local, unset ...
                elif child.type == "variable_assignment":
                    self.assignments(child, depth)
                    words.append(self.text(child))
                elif child.type == "variable_name":
                    self.out.assigned.add(self.text(child))  # export NAME
                    words.append(self.text(child))
                else:
                    words.append(self.word(child, depth=depth))
            if any(not isinstance(w, str) or w.startswith("-") for w in words[1:]):
                raise CannotTell("declaration with options or computed names")  # declare -i evaluates
            self.add(Simple(tuple(words)))
        elif kind == "test_command" and node.children and node.children[0].type == "[":
            self.bracket_test(node, depth)
        elif kind == "redirected_statement":
            self.out.plain = False
            self.redirected(node, depth)
        else:
            raise CannotTell(f"{kind} is not analysed")

    def bracket_test(self, node: tree_sitter.Node, depth: int) -> None:
        # bash reads "[" and "]" as words of their own only between blanks: "[m]" is a glob (it runs
        # a file named m), "[m ]" the command "[m"; tree-sitter-bash reads both as "[ m ]"
        before, after = self.src[node.children[0].end_byte : node.children[0].end_byte + 1], b""
        if node.children[-1].type == "]":
            close = node.children[-1]
            before += self.src[close.start_byte - 1 : close.start_byte]
            after = self.src[close.end_byte : close.end_byte + 1]
        if len(before) != 2 or before.strip(b" \t") or after.strip(b" \t\n;&|)<>"):
            raise CannotTell("[ or ] not a word of its own")
        words: list[Word] = ["["]
        self.in_test = True
        for child in node.children[1:-1]:
            self.test_words(child, depth, words)
        self.in_test = False
        if node.children[-1].type != "]":
            raise CannotTell("unclosed [")
        self.add(Simple((*words, "]")))

    def test_words(self, node: tree_sitter.Node, depth: int, out: list[Word]) -> None:
        """``[ ... ]`` is an ordinary command: its expression tree flattened back into words."""
        if node.type in ("unary_expression", "binary_expression"):
            for child in node.children:
                self.test_words(child, depth, out)
        elif node.type == "test_operator":
            out.append(self.text(node))
        elif not node.is_named:
            if node.type not in _TEST_TOKENS:
                raise CannotTell(f"{node.type!r} inside [ ]")  # '<' there is a redirection in bash
            out.append(node.type)
        else:
            out.append(self.word(node, depth=depth))

    def add(self, simple: Simple) -> None:
        if len(simple.words) > MAX_WORDS:
            raise CannotTell(f"a command with more than {MAX_WORDS} words")
        self.out.commands.append(simple)

    def assignments(self, node: tree_sitter.Node, depth: int) -> None:
        for child in node.children:
            if child.type == "variable_assignment":
                self.assignments(child, depth)
            elif child.type == "variable_name":
                self.out.assigned.add(self.text(child))
                if _EVAL_VARIABLE.match(self.text(child) + "="):
                    raise CannotTell(f"assignment to {self.text(child)}, which the shell evaluates")
                if node.type == "variable_assignment" and integer_value(self.text(node)):
                    raise CannotTell(f"assignment to {self.text(child)}, which evaluates it as arithmetic")
            elif child.type in ("=", "+="):
                continue
            elif child.type == "array":
                for item in child.named_children:
                    if re.match(r"\[[^]]*\]\+?=", self.text(item)):
                        raise CannotTell("array subscript (arithmetic)")  # b=([x]=1): x='a[$(cmd)]' runs cmd
                    self.word(item, depth=depth)
            elif child.type == "subscript":
                raise CannotTell("array subscript (arithmetic)")
            elif child.is_named:
                self.word(child, depth=depth)
            else:
                raise CannotTell(f"unexpected {child.type!r} in an assignment")

    def one_line(self, node: tree_sitter.Node) -> None:
        """bash ends a simple command at a newline; tree-sitter-bash carries a line of redirections
        only (">f <<<a") on into the next line's words, whose command it then is not."""
        for before, after in itertools.pairwise(node.children):
            if _NEWLINE.search(self.src[before.end_byte : after.start_byte]):
                raise CannotTell("a command continued on the next line (not as bash reads it)")

    def redirected(self, node: tree_sitter.Node, depth: int) -> None:
        self.one_line(node)
        body: tree_sitter.Node | None = None
        extra: list[Word] = []
        stdin: Word | None = None
        for child in node.children:
            if child.type in ("file_redirect", "herestring_redirect"):
                words, here = self.redirect(child, depth)
                extra.extend(words)
                stdin = here if here is not None else stdin
            elif child.type == "heredoc_redirect":
                raise CannotTell("here-document")
            elif child.is_named and body is None:
                body = child
            else:
                raise CannotTell(f"unexpected {child.type!r} in a redirection")
        if body is None:
            return
        if body.type == "command":
            self.command(body, depth, tuple(extra), stdin)
        elif extra:
            raise CannotTell("words after a redirection of a compound command")
        else:
            self.statement(body, depth + 1)

    def redirect(self, node: tree_sitter.Node, depth: int) -> tuple[list[Word], Word | None]:
        """The words bash would pass as arguments (tree-sitter puts ``rm >x -rf``'s ``-rf`` here)."""
        self.out.plain = False
        words: list[Word] = []
        target: Word | None = None
        if self.posix and any(child.type in ("&>", "&>>") for child in node.children):
            # sh reads "ls &>f rm x" as "ls &" then ">f rm x": a second command
            raise CannotTell("&> in a POSIX shell (& then >)")
        # "<&-" and ">&-" close a descriptor and take no file: "git <&- push" is "git push"
        closes = any(child.type in ("<&-", ">&-") for child in node.children)
        items: list[Word | list[tree_sitter.Node]] = []
        for child in node.children:
            if child.type == "file_descriptor":
                fd = self.text(child)
                if not (fd.isascii() and fd.isdigit()):
                    # bash: only digits name a descriptor; tree-sitter also reads "-n2>x" so (the word -n2)
                    if not PLAIN_WORD.match(fd) or bare_space(fd):
                        raise CannotTell("a word read as a file descriptor")
                    words.append(fd)
            elif child.is_named:
                _join(items, child)
            else:
                items.append("")  # the operator: no word joins across it
        for item in items:
            if not isinstance(item, list) or self.fd_name(item):
                continue
            value = self.word(*item, depth=depth)
            if target is None and not closes:
                target = value  # the file, or the here-string's text
            else:
                words.append(value)
        return words, target if node.type == "herestring_redirect" else None

    def command(
        self,
        node: tree_sitter.Node,
        depth: int,
        extra: tuple[Word, ...],
        stdin: Word | None = None,
    ) -> None:
        self.one_line(node)
        items: list[Word | list[tree_sitter.Node]] = []  # words, and argument nodes still to join
        assigns = False
        for child in node.children:
            kind = child.type
            if kind == "variable_assignment":
                assigns = True
                self.out.plain = False
                self.assignments(child, depth)
            elif kind == "command_name":
                if child.named_child_count != 1:
                    raise CannotTell("odd command name")
                _join(items, child.named_children[0])
            elif kind in ("file_redirect", "herestring_redirect"):
                more, here = self.redirect(child, depth)
                items.extend(more)
                stdin = here if here is not None else stdin
            elif kind == "heredoc_redirect":
                raise CannotTell("here-document")
            elif child.is_named:
                _join(items, child)
            else:
                raise CannotTell(f"unexpected {kind!r} in a command")  # $"..." shows up as a bare '$'
        words: list[Word] = []
        for item in items:
            if not isinstance(item, list):
                words.append(item)
            elif not self.fd_name(item):
                words.append(self.word(*item, depth=depth))
        words.extend(extra)
        if not words:
            return
        if any(isinstance(w, Dyn) and not w.glob for w in words):
            self.out.plain = False
        self.add(Simple(tuple(words), assigns, stdin))

    def fd_name(self, nodes: list[tree_sitter.Node]) -> bool:
        """Whether ``node`` is the ``{name}`` of ``{name}>file`` (no argument: bash stores the
        descriptor's number in ``name``), or digits bash reads as the descriptor of ``0<file``; with
        a subscript, ``{a[x]}>file``, cannot tell."""
        end = nodes[-1].end_byte
        if self.src[end : end + 1] not in (b"<", b">"):
            return False
        text = self.src[nodes[0].start_byte : end].decode("utf-8", "surrogateescape")
        if text.isascii() and text.isdigit() and int(text) <= _MAX_FD:
            return True  # bash's descriptor ("0<&- push"), which tree-sitter reads as a number argument
        if _FD_ARRAY.match(text):
            raise CannotTell("a descriptor stored in an array element (its subscript is arithmetic)")
        if _FD_NAME.match(text):
            self.out.plain = False
            return True
        return False

"""The condition language's syntax: tokens and the tree the compiler walks, with no meaning attached.

    cond   := "*" | or
    or     := and ("||" and)*
    and    := unary ("&&" unary)*
    unary  := "!" unary | "(" or ")" | call
    call   := NAME "(" [arg ("," arg)*] ")"
    arg    := "string" | number | "*" | argument.name

Kept apart from the compiler so that code which only reads a rule's shape (``rule_names_address``)
parses it without building predicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["ConditionError"]


class ConditionError(ValueError):
    """A condition that does not compile; ``column`` is 1-based within the condition text."""

    def __init__(self, message: str, column: int, token: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.token = token


class _Tok(NamedTuple):  # a tuple: made ~7 times per condition, 100,000s of times in a large policy
    kind: str  # op ( ) , str num star name end
    value: Any
    col: int
    text: str


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


_STRING_STOP = re.compile(r'["\\]')
# Every token, blanks included (group 1), by one ``findall``: the same choices as _tokenize_exact
# makes (it runs whenever these tokens do not cover the whole text). A string's body is read in runs.
_TOKENS = re.compile(
    r'(?s)([ \t]+)|(\|\||&&|[!(),*])|("[^"\\]*+(?:\\.[^"\\]*+)*+")'
    r"|(-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)"
)
_ESCAPE = re.compile(r"(?s)\\(.)")
_new_tuple = tuple.__new__  # _Tok(...) without the named tuple's Python-level __new__
_OP_KIND = {"!": "op", "*": "star", "(": "(", ")": ")", ",": ",", "||": "op", "&&": "op"}


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return char if char in '"\\' else match.group(0)


def _tokenize(text: str) -> list[_Tok]:
    """The condition's tokens, by one regex; anything it cannot read goes to the exact tokenizer,
    which raises the error naming the column (the tests compare the two)."""
    toks: list[_Tok] = []
    i = 0  # where the next token starts, if the matches are contiguous (checked at the end)
    for blank, op, string, number, name in _TOKENS.findall(text):
        if blank:
            i += len(blank)
            continue
        if op:
            toks.append(_new_tuple(_Tok, (_OP_KIND[op], op, i + 1, op)))
            i += len(op)
        elif string:
            body = string[1:-1]
            value = _ESCAPE.sub(_unescape, body) if "\\" in body else body
            toks.append(_new_tuple(_Tok, ("str", value, i + 1, string)))
            i += len(string)
        elif number:
            if number[0] not in "-." and not number[0].isdigit():
                return _tokenize_exact(text)
            value_num = float(number) if "." in number or "e" in number or "E" in number else int(number)
            toks.append(_new_tuple(_Tok, ("num", value_num, i + 1, number)))
            i += len(number)
        else:
            toks.append(_new_tuple(_Tok, ("name", name, i + 1, name)))
            i += len(name)
    if i != len(text):  # findall skipped something no token reads
        return _tokenize_exact(text)
    toks.append(_new_tuple(_Tok, ("end", None, i + 1, "end of condition")))
    return toks


def _tokenize_exact(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        col = i + 1
        if c in " \t":
            i += 1
        elif text.startswith("||", i) or text.startswith("&&", i):
            toks.append(_Tok("op", text[i : i + 2], col, text[i : i + 2]))
            i += 2
        elif c in "!(),*":
            toks.append(_Tok("op" if c == "!" else c if c != "*" else "star", c, col, c))
            i += 1
        elif c == '"':
            j = i + 1
            out: list[str] = []
            while True:
                stop = _STRING_STOP.search(text, j)  # runs of plain characters are copied whole
                if stop is None:
                    raise ConditionError("unterminated string", col, text[i:])
                out.append(text[j : stop.start()])
                j = stop.start()
                if text[j] == '"':
                    break
                if j + 1 >= n:  # a backslash that ends the text
                    raise ConditionError("unterminated string", col, text[i:])
                nxt = text[j + 1]
                out.append(nxt if nxt in '"\\' else "\\" + nxt)
                j += 2
            toks.append(_Tok("str", "".join(out), col, text[i : j + 1]))
            i = j + 1
        else:
            m = _NUMBER.match(text, i)
            if m and (c.isdigit() or c in "-."):
                toks.append(
                    _Tok(
                        "num",
                        float(m.group()) if any(x in m.group() for x in ".eE") else int(m.group()),
                        col,
                        m.group(),
                    )
                )
                i = m.end()
                continue
            m = _NAME.match(text, i)
            if not m:
                raise ConditionError(f"unexpected character {c!r}", col, c)
            toks.append(_Tok("name", m.group(), col, m.group()))
            i = m.end()
    toks.append(_Tok("end", None, n + 1, "end of condition"))
    return toks


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Tok, ...]
    col: int


@dataclass(frozen=True, slots=True)
class _Not:
    inner: _Node


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # && or ||
    items: tuple[_Node, ...]


_Node = _Call | _Not | _Bool


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str, what: str) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != kind:
            raise ConditionError(f"expected {what}, found {tok.text!r}", tok.col, tok.text)
        self.i += 1
        return tok

    def parse(self) -> _Node:
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {tok.text!r}", tok.col, tok.text)
        return node

    def or_(self) -> _Node:
        items = [self.and_()]
        while self.peek().kind == "op" and self.peek().value == "||":
            self.i += 1
            items.append(self.and_())
        return items[0] if len(items) == 1 else _Bool("||", tuple(items))

    def and_(self) -> _Node:
        items = [self.unary()]
        while self.peek().kind == "op" and self.peek().value == "&&":
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else _Bool("&&", tuple(items))

    def unary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "!":
            self.i += 1
            return _Not(self.unary())
        if tok.kind == "(":
            self.i += 1
            node = self.or_()
            self.take(")", "')'")
            return node
        name = self.take("name", "a function call")
        if "." in name.value:
            raise ConditionError(f"{name.value!r} is not a function name", name.col, name.text)
        self.take("(", f"'(' after {name.value}")
        args: list[_Tok] = []
        if self.peek().kind != ")":
            while True:
                tok = self.peek()
                if tok.kind not in ("str", "num", "star", "name"):
                    raise ConditionError(f"expected an argument, found {tok.text!r}", tok.col, tok.text)
                self.i += 1
                args.append(tok)
                if self.peek().kind == ",":
                    self.i += 1
                    continue
                break
        self.take(")", f"')' to close {name.value}(")
        return _Call(name.value, tuple(args), name.col)


# A large policy repeats a few condition shapes with other strings in them (``glob(path, "/data/svc1/**")``,
# ``glob(path, "/data/svc2/**")``): the tokens and tree of one are the other's with the strings
# swapped. Only texts without a backslash share a shape, so a string is exactly a quote, its body and
# the next quote (what the tokenizer reads too), and only strings of the same length, so every column
# stays where it was. The compiler still checks each string; only the tokenizing and parsing are shared.
_PLAIN_STRINGS = re.compile(r'"([^"]*)"')
_shapes: dict[tuple[tuple[str, ...], tuple[int, ...]], _Node] = {}
_MAX_SHAPES = 4096


def parse_condition(text: str) -> _Node:
    """``_Parser(_tokenize(text)).parse()``, the tree of a text of the same shape reused when there is one."""
    if "\\" in text or '"' not in text:
        return _Parser(_tokenize(text)).parse()
    pieces = _PLAIN_STRINGS.split(text)
    bodies = pieces[1::2]
    key = (tuple(pieces[0::2]), tuple(map(len, bodies)))
    tree = _shapes.get(key)
    if tree is None:
        tree = _Parser(_tokenize(text)).parse()
        if len(_shapes) >= _MAX_SHAPES:
            _shapes.clear()
        _shapes[key] = tree
        return tree
    return _rebind(tree, iter(bodies))


def _rebind(node: _Node, bodies: Iterator[str]) -> _Node:
    """``node`` with its string arguments, in text order, read from ``bodies`` (same lengths)."""
    if isinstance(node, _Call):
        if not any(arg.kind == "str" for arg in node.args):
            return node
        args: list[_Tok] = []
        for arg in node.args:
            if arg.kind == "str":
                body = next(bodies)
                arg = _new_tuple(_Tok, ("str", body, arg.col, f'"{body}"'))
            args.append(arg)
        return _Call(node.name, tuple(args), node.col)
    if isinstance(node, _Not):
        return _Not(_rebind(node.inner, bodies))
    return _Bool(node.op, tuple(_rebind(item, bodies) for item in node.items))

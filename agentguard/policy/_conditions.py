"""The condition language of the ``cond`` column: parsed by hand, never ``eval``'d.

    cond   := "*" | or
    or     := and ("||" and)*
    and    := unary ("&&" unary)*
    unary  := "!" unary | "(" or ")" | call
    call   := NAME "(" [arg ("," arg)*] ")"
    arg    := "string" | number | "*" | argument.name

Every function is checked for arity and argument types when the policy loads; a condition that
cannot be compiled is a ``ConditionError`` naming the column. Evaluation never raises for odd
argument values: a missing argument or a value of the wrong type makes the call false.

Conditions have three values: true, false and ``None``, "cannot tell" (the shell functions
produce it, for a command line whose meaning is known only when it runs). ``!`` keeps ``None``;
``&&`` and ``||`` follow Kleene logic. The engine resolves ``None`` by the rule's effect: a match
for deny and ask rules, no match for allow rules. Subtrees that cannot produce ``None`` compile to
plain boolean code, so conditions without shell functions cost what they did before.
``url()``/``ip()`` signal it by raising ``CannotTell`` (see ``_net_conditions``), which the engine
settles the same way for the whole rule.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

import re2
from wcmatch import glob

from agentguard import detectors
from agentguard.policy._addresses import Resolver
from agentguard.policy._glob import Glob, GlobError
from agentguard.policy._net_conditions import f_ip, f_url
from agentguard.policy._paths import on_disk_spelling
from agentguard.policy._shell import ShellParseError, parse_script
from agentguard.policy._shellmatch import (
    CommandPattern,
    OptionSet,
    Tri,
    cmd_any_result,
    cmd_result,
    opt_result,
)

__all__ = [
    "CompileEnv",
    "Condition",
    "ConditionError",
    "EvalContext",
    "FactSource",
    "StaticFacts",
    "compile_condition",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MISSING: Any = object()
MAX_CONDITION_CHARS = 20_000


class ConditionError(ValueError):
    """A condition that does not compile; ``column`` is 1-based within the condition text."""

    def __init__(self, message: str, column: int, token: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.token = token


@dataclass(frozen=True, slots=True)
class CompileEnv:
    """What placeholders in path patterns mean, all already ``realpath``'ed.

    ``state`` is agentguard's own state directory (settings ``home``: audit log, queue, grants),
    wherever it is configured; empty means the default, ``<home>/.agentguard``.
    """

    workspace: str
    home: str
    state: str = ""
    case_insensitive: bool = False  # the workspace's file system folds case: path() matches so too
    definitions: tuple[tuple[str, str], ...] = ()  # facts.toml [conditions]: name -> condition over _

    @property
    def state_dir(self) -> str:
        return self.state or os.path.join(self.home, ".agentguard")


@runtime_checkable
class FactSource(Protocol):
    """Answers ``known(arg, "fact")``: is ``value`` in the named set of the agent's environment?

    Facts live outside the policy files because they change at run time ("payees the user has
    paid before", "addresses in the user's contacts"). An unknown fact name answers False.
    """

    def contains(self, fact: str, value: str) -> bool: ...


class StaticFacts:
    """A ``FactSource`` over fixed sets: ``StaticFacts({"payees": ["DE89..."]})``."""

    def __init__(self, facts: Mapping[str, Iterable[str]]) -> None:
        self._sets = {name: frozenset(values) for name, values in facts.items()}

    def contains(self, fact: str, value: str) -> bool:
        return value in self._sets.get(fact, frozenset())


class EvalContext:
    """One evaluation: the call's arguments, the clock, per-call memos (resolved paths), the facts.

    A plain slotted class, built once per decision: the clock is read only if a rule asks for it.
    """

    __slots__ = ("_now", "arguments", "facts", "memo", "resolver")

    def __init__(
        self,
        arguments: Mapping[str, Any],
        now: datetime | None = None,
        facts: FactSource | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.arguments = arguments
        self.facts = facts
        self.resolver = resolver  # host names for ip(); None makes ip() on a name "cannot tell"
        self.memo: dict[Any, Any] = {}
        self._now = now

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now


Predicate = Callable[[EvalContext], Tri]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled ``cond``: the predicate plus the annotations found among its top-level terms."""

    text: str
    predicate: Predicate
    sandbox: str | None = None
    timeout_s: float | None = None
    unconditional: bool = True  # nothing but "*" or annotations: the rule applies to every call
    functions: frozenset[str] = frozenset()
    path_refs: frozenset[tuple[str, ...]] = frozenset()  # arguments some path() reads: resolved for the tool
    tri: bool = False  # the predicate may answer None ("cannot tell")
    # (function, argument) for every call whose first argument names a tool argument: for lint
    calls: frozenset[tuple[str, str]] = frozenset()

    def __call__(self, ctx: EvalContext) -> Tri:
        return self.predicate(ctx)

    def holds(self, ctx: EvalContext, *, allow: bool) -> bool:
        """The rule's match: "cannot tell" matches deny and ask rules, never allow rules."""
        held = self.predicate(ctx)
        return (not allow) if held is None else held


# ---------------------------------------------------------------- tokens and syntax tree


class _Tok(NamedTuple):  # a tuple: made ~7 times per condition, 100,000s of times in a large policy
    kind: str  # op ( ) , str num star name end
    value: Any
    col: int
    text: str


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


_STRING_STOP = re.compile(r'["\\]')
# One token at a time, the same choices as _tokenize_exact makes (it runs whenever this cannot go on).
_TOKEN = re.compile(
    r'(?s)[ \t]+|(\|\||&&|[!(),*])|("(?:[^"\\]|\\.)*")'
    r"|(-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)"
)
_ESCAPE = re.compile(r"(?s)\\(.)")
_OP_KIND = {"!": "op", "*": "star", "(": "(", ")": ")", ",": ",", "||": "op", "&&": "op"}


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return char if char in '"\\' else match.group(0)


def _tokenize(text: str) -> list[_Tok]:
    """The condition's tokens, by one regex; anything it cannot read goes to the exact tokenizer,
    which raises the error naming the column (the tests compare the two)."""
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    match = _TOKEN.match
    while i < n:
        found = match(text, i)
        if found is None:
            return _tokenize_exact(text)
        op, string, number, name = found.groups()
        if op is not None:
            toks.append(_Tok(_OP_KIND[op], op, i + 1, op))
        elif string is not None:
            body = string[1:-1]
            value = _ESCAPE.sub(_unescape, body) if "\\" in body else body
            toks.append(_Tok("str", value, i + 1, string))
        elif number is not None:
            if number[0] not in "-." and not number[0].isdigit():
                return _tokenize_exact(text)
            value_num = float(number) if any(x in number for x in ".eE") else int(number)
            toks.append(_Tok("num", value_num, i + 1, number))
        elif name is not None:
            toks.append(_Tok("name", name, i + 1, name))
        i = found.end()
    toks.append(_Tok("end", None, n + 1, "end of condition"))
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


# ---------------------------------------------------------------- functions


def _lookup(arguments: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = arguments
    for part in path:
        if type(value) is dict or isinstance(value, Mapping):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _strict_equal(a: Any, b: Any) -> bool:
    """JSON equality without Python's ``True == 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    return isinstance(a, str) and isinstance(b, str) and a == b


def _eq_literal(value: Any, literal: Any) -> bool:
    if _is_number(literal):
        return _is_number(value) and bool(value == literal)
    if isinstance(value, str):
        return bool(value == literal)
    try:
        parsed = json.loads(literal)
    except ValueError:
        return False
    return _strict_equal(value, parsed)


def normalise_path(value: Any, workspace: str, fold: bool = False) -> str | None:
    """The absolute, symlink-free path a tool would open, or ``None`` for values that are not paths.

    With ``fold`` (a case-folding file system), existing components are spelled as on disk."""
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
        return None
    path = os.path.expanduser(value) if value.startswith("~") else value
    if not os.path.isabs(path):
        path = os.path.join(workspace, path)
    try:
        resolved = os.path.realpath(path)
        # realpath leaves a symlink loop in place instead of failing: refuse any symlink left over
        probe, parent = resolved, os.path.dirname(resolved)
        while probe != parent:
            if os.path.islink(probe):
                return None
            probe, parent = parent, os.path.dirname(parent)
        if fold:
            resolved = on_disk_spelling(resolved, workspace)
    except (OSError, ValueError):
        return None
    return resolved


class _Builder:
    def __init__(self, env: CompileEnv, call: _Call, path_refs: set[tuple[str, ...]] | None = None) -> None:
        self.env = env
        self.call = call
        self.path_refs: set[tuple[str, ...]] = set() if path_refs is None else path_refs

    def fail(self, message: str, tok: _Tok | None = None) -> ConditionError:
        if tok is None:
            return ConditionError(f"{self.call.name}(): {message}", self.call.col, self.call.name)
        return ConditionError(f"{self.call.name}(): {message}", tok.col, tok.text)

    def arity(self, low: int, high: int | None = None) -> None:
        n = len(self.call.args)
        high = low if high is None else high
        if not low <= n <= high:
            want = str(low) if low == high else f"{low} or more" if high > 99 else f"{low}-{high}"
            raise self.fail(f"takes {want} argument{'s' if want != '1' else ''}, got {n}")

    def ref(self, index: int) -> tuple[str, ...]:
        tok = self.call.args[index]
        if tok.kind != "name":
            raise self.fail(f"argument {index + 1} must name a tool argument, got {tok.text}", tok)
        return tuple(tok.value.split("."))

    def ref_or_star(self, index: int) -> tuple[str, ...] | None:
        """``None`` stands for ``*``: all arguments."""
        if self.call.args[index].kind == "star":
            return None
        return self.ref(index)

    def string(self, index: int) -> str:
        tok = self.call.args[index]
        if tok.kind != "str":
            raise self.fail(f"argument {index + 1} must be a quoted string, got {tok.text}", tok)
        return str(tok.value)

    def number(self, index: int) -> float:
        tok = self.call.args[index]
        if tok.kind != "num":
            raise self.fail(f"argument {index + 1} must be a number, got {tok.text}", tok)
        return float(tok.value)


def _value_pred(path: tuple[str, ...] | None, test: Callable[[Any], bool]) -> Predicate:
    if path is None:
        return lambda ctx: test(ctx.arguments)

    if len(path) == 1:  # the common case, a top-level argument: one dict lookup
        key = path[0]

        def pred_top(ctx: EvalContext) -> bool:
            arguments = ctx.arguments
            value = arguments.get(key, _MISSING) if type(arguments) is dict else _lookup(arguments, path)
            return value is not _MISSING and test(value)

        return pred_top

    def pred(ctx: EvalContext) -> bool:
        value = _lookup(ctx.arguments, path)
        return value is not _MISSING and test(value)

    return pred


def _f_path(b: _Builder) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    b.path_refs.add(ref)
    raw = b.string(1)
    tok = b.call.args[1]
    for m in _PLACEHOLDER.finditer(raw):
        if m.group(1) not in ("workspace", "home", "state"):
            raise b.fail(
                f"unknown placeholder {{{m.group(1)}}}; use {{workspace}}, {{home}} or {{state}}", tok
            )
    pattern = (
        raw.replace("{workspace}", glob.escape(b.env.workspace))
        .replace("{home}", glob.escape(b.env.home))
        .replace("{state}", glob.escape(b.env.state_dir))
    )
    if not pattern.startswith("/"):
        raise b.fail(
            f"path pattern {raw!r} must be absolute or start with {{workspace}}, {{home}} or {{state}}", tok
        )
    try:
        fold = b.env.case_insensitive
        matchers = [Glob(pattern, ignore_case=fold)]
        if pattern.endswith("/**"):
            matchers.append(Glob(pattern[:-3] or "/", ignore_case=fold))
    except GlobError as exc:
        raise b.fail(f"bad glob {raw!r}: {exc}", tok) from None
    workspace = b.env.workspace
    fold = b.env.case_insensitive

    def pred(ctx: EvalContext) -> bool:
        value = _lookup(ctx.arguments, ref)
        if value is _MISSING:
            return False
        key = ("path", ref)
        if key in ctx.memo:
            path = ctx.memo[key]
        else:
            path = ctx.memo[key] = normalise_path(value, workspace, fold)
        return path is not None and any(m.match(path) for m in matchers)

    return pred


def _script_arg(b: _Builder) -> Callable[[EvalContext], Any]:
    """The parsed command line of argument 1: ``_MISSING``, ``None`` (cannot be analysed) or a Script."""
    ref = b.ref(0)

    def get(ctx: EvalContext) -> Any:
        value = _lookup(ctx.arguments, ref)
        if value is _MISSING or not isinstance(value, str):
            return value if value is _MISSING else None  # not a command line: cannot tell
        key = ("sh", value)
        parsed = ctx.memo.get(key, _MISSING)
        if parsed is _MISSING:
            try:
                parsed = parse_script(value)
            except ShellParseError:
                parsed = None
            ctx.memo[key] = parsed
        return parsed

    return get


def _f_cmd(b: _Builder, *, any_: bool) -> Predicate:
    b.arity(2, 10_000)
    get = _script_arg(b)
    patterns: list[CommandPattern] = []
    for i in range(1, len(b.call.args)):
        try:
            patterns.append(CommandPattern.parse(b.string(i)))
        except ValueError as exc:
            raise b.fail(str(exc), b.call.args[i]) from None
    result = cmd_any_result if any_ else cmd_result

    def pred(ctx: EvalContext) -> Tri:
        parsed = get(ctx)
        return False if parsed is _MISSING else result(parsed, patterns)

    return pred


def _f_opt(b: _Builder) -> Predicate:
    """``opt(command, "git", "--output", "-o")``: a command that may run starts with the pattern
    and carries one of the options (see ``OptionSet`` for how options are recognised)."""
    b.arity(3, 10_000)
    get = _script_arg(b)
    try:
        pattern = CommandPattern.parse(b.string(1), open_ended=True)
    except ValueError as exc:
        raise b.fail(str(exc), b.call.args[1]) from None
    try:
        options = OptionSet.parse([b.string(i) for i in range(2, len(b.call.args))])
    except ValueError as exc:
        raise b.fail(str(exc)) from None

    def pred(ctx: EvalContext) -> Tri:
        parsed = get(ctx)
        return False if parsed is _MISSING else opt_result(parsed, pattern, options)

    return pred


def _re2_options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 32 << 20
    return opts


_RE2_OPTIONS = _re2_options()


_PY_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(Z)|(.))", re.DOTALL)


def _re2_source(source: str) -> str:
    """Python escapes RE2 spells differently: ``\\uXXXX``, ``\\UXXXXXXXX`` (grants write them), ``\\Z``."""

    def swap(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2)
        if code:
            return f"\\x{{{code}}}"
        return "\\z" if m.group(3) else m.group(0)

    return _PY_ESCAPE.sub(swap, source)


def _f_regex(b: _Builder) -> Predicate:
    """``regex(arg, "re")``: RE2 syntax, a full match of the string, time linear in its length."""
    b.arity(2)
    ref = b.ref(0)
    tok = b.call.args[1]
    source = b.string(1)
    try:
        rx = re2.compile(_re2_source(source), _RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise b.fail(
            f"bad regular expression {source!r} ({why}): regex() uses RE2, which has no "
            "backreferences, lookahead/lookbehind or possessive quantifiers",
            tok,
        ) from None

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return rx.fullmatch(value) is not None
        except UnicodeEncodeError:  # lone surrogates (JSON allows them): RE2 reads them as one character each
            return rx.fullmatch(value.encode("utf-8", "surrogatepass")) is not None

    return _value_pred(ref, test)


def _f_glob(b: _Builder) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    tok = b.call.args[1]
    try:
        matcher = Glob(b.string(1))
    except GlobError as exc:
        raise b.fail(f"bad glob: {exc}", tok) from None
    return _value_pred(ref, lambda v: isinstance(v, str) and matcher.match(v))


def _literal(b: _Builder, index: int) -> Any:
    tok = b.call.args[index]
    if tok.kind not in ("str", "num"):
        raise b.fail(f"argument {index + 1} must be a string or number, got {tok.text}", tok)
    return tok.value


def _f_eq(b: _Builder) -> Predicate:
    b.arity(2)
    ref = b.ref_or_star(0)
    literal = _literal(b, 1)
    if ref is None:
        return _exact_arguments(b, literal)
    return _value_pred(ref, lambda v: _eq_literal(v, literal))


def _exact_arguments(b: _Builder, literal: Any) -> Predicate:
    """``eq(*, "{...}")``: the whole argument object equals the JSON object, key for key, type for type
    (``"5"`` is not ``5``, ``true`` is not ``1``, no key more or less). Exact-call grants use it."""
    tok = b.call.args[1]
    try:
        expected = json.loads(literal) if isinstance(literal, str) else None
    except ValueError as exc:
        raise b.fail(f"eq(*, ...) takes a JSON object: {exc}", tok) from None
    if not isinstance(expected, dict):
        raise b.fail("eq(*, ...) takes a JSON object (the whole argument object)", tok)
    return lambda ctx: _strict_equal(ctx.arguments, expected)


def _f_oneof(b: _Builder) -> Predicate:
    b.arity(2, 10_000)
    ref = b.ref(0)
    literals = [_literal(b, i) for i in range(1, len(b.call.args))]
    return _value_pred(ref, lambda v: any(_eq_literal(v, lit) for lit in literals))


def _f_compare(b: _Builder, op: Callable[[float, float], bool]) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    limit = b.number(1)
    return _value_pred(ref, lambda v: _is_number(v) and op(v, limit))


def _f_between(b: _Builder) -> Predicate:
    b.arity(3)
    ref = b.ref(0)
    low, high = b.number(1), b.number(2)
    if low > high:
        raise b.fail(f"lower bound {low:g} is above upper bound {high:g}")
    return _value_pred(ref, lambda v: _is_number(v) and low <= v <= high)


def _f_detector(b: _Builder, category: detectors.Category, kinds: Sequence[str] | None = None) -> Predicate:
    b.arity(1)
    ref = b.ref_or_star(0)
    return _value_pred(ref, lambda v: detectors.contains(v, category, kinds))


def _f_before(b: _Builder) -> Predicate:
    b.arity(1)
    tok = b.call.args[0]
    text = b.string(0)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise b.fail(f"{text!r} is not an ISO 8601 time", tok) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise b.fail(f"{text!r} has no time zone; write e.g. {text}Z", tok)
    return lambda ctx: ctx.now < instant


_FACT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _f_known(b: _Builder) -> Predicate:
    """``known(arg, "fact")``: the value (or every item of a non-empty list) is in the fact set."""
    b.arity(2)
    ref = b.ref(0)
    name = b.string(1)
    if not _FACT_NAME.match(name):
        raise b.fail(f"bad fact name {name!r} (letters, digits, . _ -)", b.call.args[1])

    def pred(ctx: EvalContext) -> bool:
        facts = ctx.facts
        value = _lookup(ctx.arguments, ref)
        if facts is None or value is _MISSING:
            return False
        if isinstance(value, str):
            return bool(facts.contains(name, value))
        if isinstance(value, list | tuple) and value:
            return all(isinstance(v, str) and facts.contains(name, v) for v in value)
        return False

    return pred


from agentguard.policy import _provenance as _prov  # noqa: E402 - its builders use the definitions above
from agentguard.policy import _textfacts as _text  # noqa: E402 - likewise

_FUNCTIONS: dict[str, Callable[[_Builder], Predicate]] = {
    "path": _f_path,
    "cmd": lambda b: _f_cmd(b, any_=False),
    "cmd_any": lambda b: _f_cmd(b, any_=True),
    "opt": _f_opt,
    "url": f_url,
    "ip": f_ip,
    "regex": _f_regex,
    "glob": _f_glob,
    "eq": _f_eq,
    "oneof": _f_oneof,
    "lt": lambda b: _f_compare(b, lambda x, y: x < y),
    "le": lambda b: _f_compare(b, lambda x, y: x <= y),
    "gt": lambda b: _f_compare(b, lambda x, y: x > y),
    "ge": lambda b: _f_compare(b, lambda x, y: x >= y),
    "between": _f_between,
    "secret": lambda b: _f_detector(b, "secret"),
    "pii": lambda b: _f_detector(b, "pii"),
    "email": lambda b: _f_detector(b, "pii", ("email",)),
    "before": _f_before,
    "known": _f_known,
    "from_user": _prov.from_user,
    "trusted": _prov.trusted,
    "from_tool": _prov.from_tool,
    "untrusted": _prov.untrusted,
    "untrusted_only": _prov.untrusted_only,
    "unseen": _prov.unseen,
    "session_read": _prov.session_read,
    "carries_untrusted": _prov.carries_untrusted,
    "leaks_to": _prov.leaks_to,
    "same_source": _prov.same_source,
    "contains_fact": _text.contains_fact,
    "every_url": _text.every_url,
    "every_email": _text.every_email,
    "every_iban": _text.every_iban,
    "host_in": _text.host_in,
    "is": _text.is_,
    "same": _text.same,
    "lt_arg": _text.lt_arg,
    "le_arg": _text.le_arg,
}
# The functions that may answer None: the shell ones, and those that run an inner condition.
_TRI_FUNCTIONS = frozenset(
    {"cmd", "cmd_any", "opt", "is", "every_url", "every_email", "every_iban", "contains_fact"}
)
_ANNOTATIONS = ("sandbox", "timeout")
FUNCTION_NAMES = frozenset(_FUNCTIONS) | frozenset(_ANNOTATIONS)


def _always(ctx: EvalContext) -> bool:
    return True


def _tri(node: _Node) -> bool:
    """Can this subtree answer None? (Only then does it pay for three-valued logic.)"""
    if isinstance(node, _Not):
        return _tri(node.inner)
    if isinstance(node, _Bool):
        return any(_tri(item) for item in node.items)
    return node.name in _TRI_FUNCTIONS


def _not3(inner: Predicate) -> Predicate:
    def pred(ctx: EvalContext) -> Tri:
        held = inner(ctx)
        return None if held is None else not held

    return pred


def _and3(items: tuple[Predicate, ...]) -> Predicate:
    def pred(ctx: EvalContext) -> Tri:
        result: Tri = True
        for p in items:
            held = p(ctx)
            if held is False:
                return False
            if held is None:
                result = None
        return result

    return pred


def _or3(items: tuple[Predicate, ...]) -> Predicate:
    def pred(ctx: EvalContext) -> Tri:
        result: Tri = False
        for p in items:
            held = p(ctx)
            if held is True:
                return True
            if held is None:
                result = None
        return result

    return pred


def _calls(node: _Node) -> set[tuple[str, str]]:
    if isinstance(node, _Not):
        return _calls(node.inner)
    if isinstance(node, _Bool):
        return set().union(*(_calls(item) for item in node.items))
    first = node.args[0] if node.args else None
    return {(node.name, str(first.value))} if first is not None and first.kind == "name" else set()


def _build(node: _Node, env: CompileEnv, used: set[str], paths: set[tuple[str, ...]]) -> Predicate:
    if isinstance(node, _Not):
        inner = _build(node.inner, env, used, paths)
        if _tri(node.inner):
            return _not3(inner)
        return lambda ctx: not inner(ctx)
    if isinstance(node, _Bool):
        items = tuple(_build(item, env, used, paths) for item in node.items)
        if _tri(node):
            return _and3(items) if node.op == "&&" else _or3(items)
        if node.op == "&&":
            return lambda ctx: all(p(ctx) for p in items)
        return lambda ctx: any(p(ctx) for p in items)
    if node.name in _ANNOTATIONS:
        raise ConditionError(
            f"{node.name}() is an annotation and may only appear as a top-level '&&' term",
            node.col,
            node.name,
        )
    factory = _FUNCTIONS.get(node.name)
    if factory is None:
        known = ", ".join(sorted(FUNCTION_NAMES))
        raise ConditionError(f"unknown function {node.name!r} (known: {known})", node.col, node.name)
    used.add(node.name)
    return factory(_Builder(env, node, paths))


def compile_condition(text: str, env: CompileEnv) -> Condition:
    """Compile one ``cond`` column. Raises ``ConditionError`` for anything that is not valid."""
    stripped = text.strip()
    if stripped == "*":
        return Condition(text, _always)
    if not stripped:
        raise ConditionError("empty condition; write * for none", 1)
    if len(stripped) > MAX_CONDITION_CHARS:
        raise ConditionError(f"condition longer than {MAX_CONDITION_CHARS} characters", 1)
    try:
        tree = _Parser(_tokenize(stripped)).parse()
    except RecursionError:
        raise ConditionError("condition nests too deeply", 1) from None
    terms = list(tree.items) if isinstance(tree, _Bool) and tree.op == "&&" else [tree]
    sandbox: str | None = None
    timeout: float | None = None
    rest: list[_Node] = []
    for term in terms:
        if isinstance(term, _Call) and term.name in _ANNOTATIONS:
            b = _Builder(env, term)
            b.arity(1)
            if term.name == "sandbox":
                if sandbox is not None:
                    raise b.fail("given twice")
                sandbox = b.string(0)
                if not _PROFILE_NAME.match(sandbox):
                    raise b.fail(f"bad profile name {sandbox!r}", term.args[0])
            else:
                if timeout is not None:
                    raise b.fail("given twice")
                timeout = b.number(0)
                if not 0 < timeout <= 7 * 86400:
                    raise b.fail("timeout must be between 0 and 604800 seconds", term.args[0])
            continue
        rest.append(term)
    used: set[str] = set()
    paths: set[tuple[str, ...]] = set()
    preds = [_build(term, env, used, paths) for term in rest]
    if not preds:
        predicate: Predicate = _always
    elif len(preds) == 1:
        predicate = preds[0]
    elif any(_tri(term) for term in rest):
        predicate = _and3(tuple(preds))
    else:
        items = tuple(preds)

        def predicate(ctx: EvalContext) -> Tri:
            return all(p(ctx) for p in items)

    tri = any(_tri(term) for term in rest)
    calls = frozenset(set().union(*(_calls(term) for term in rest))) if rest else frozenset()
    return Condition(
        text, predicate, sandbox, timeout, not preds, frozenset(used), frozenset(paths), tri, calls
    )

"""Conditions on one argument's value: ``path``, ``cmd``/``cmd_any``/``opt``, ``regex``, ``glob``, ``eq``,
``oneof``, the comparisons, ``secret``/``pii``/``email``, ``before`` and ``known``.

Each builder checks its arguments when the policy loads and returns the predicate; a missing
argument or a value of the wrong type makes the predicate false, never an error, except ``path()``:
a value that is neither a string nor null raises ``CannotTell`` (see ``f_path``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import re2
from wcmatch import glob

from agentguard import detectors
from agentguard.policy._condition_types import _MISSING, _is_number, _lookup, _strict_equal
from agentguard.policy._glob import Glob, GlobError
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._paths import file_uri_path, normalise_path
from agentguard.policy._regex_match import RE2_OPTIONS, re2_source, whole_match
from agentguard.policy._shell import ShellParseError, parse_script
from agentguard.policy._shellmatch import (
    CommandPattern,
    OptionSet,
    Tri,
    cmd_any_result,
    cmd_result,
    opt_result,
)

if TYPE_CHECKING:
    from agentguard.policy._condition_types import EvalContext, Predicate, _Builder

__all__ = [
    "f_before",
    "f_between",
    "f_cmd",
    "f_compare",
    "f_detector",
    "f_eq",
    "f_glob",
    "f_known",
    "f_oneof",
    "f_opt",
    "f_path",
    "f_regex",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def _path_matchers(b: _Builder) -> list[Glob]:
    """The globs of a path pattern (argument 1): placeholders filled in, absolute, ``/**`` also
    matching the folder itself."""
    raw = b.string(1)
    tok = b.call.args[1]
    for m in _PLACEHOLDER.finditer(raw):
        if m.group(1) not in ("workspace", "home", "state", "policy"):
            raise b.fail(
                f"unknown placeholder {{{m.group(1)}}}; use {{workspace}}, {{home}}, {{state}} or {{policy}}",
                tok,
            )
    # {policy} unknown (compiled outside a load): a ".." segment, which no resolved path has. The
    # files the load read from elsewhere (linked rule files, grant files) are {policy} too.
    # {state} also stands for the state files settings put elsewhere (an absolute audit.file) and
    # what is kept beside them under their name (the log's .head checkpoint, .torn-* tails).
    roots = [glob.escape(p) for p in (b.env.policy, *b.env.policy_files)] if b.env.policy else []
    base = raw.replace("{workspace}", glob.escape(b.env.workspace)).replace("{home}", glob.escape(b.env.home))
    states = [glob.escape(b.env.state_dir), *(glob.escape(p) + "{,.*}" for p in b.env.state_files)]
    states = [base.replace("{state}", state) for state in states]
    patterns = [s.replace("{policy}", root) for s in states for root in roots or ["/../no-policy-directory"]]
    if not patterns[0].startswith("/"):
        raise b.fail(
            f"path pattern {raw!r} must be absolute or start with {{workspace}}, {{home}}, {{state}} "
            "or {{policy}}",
            tok,
        )
    fold = b.env.case_insensitive
    matchers: list[Glob] = []
    try:
        for pattern in dict.fromkeys(patterns):  # one pattern when there is no {policy} or {state} file
            matchers.append(Glob(pattern, ignore_case=fold))
            if pattern.endswith("/**"):
                matchers.append(Glob(pattern[:-3] or "/", ignore_case=fold))
    except GlobError as exc:
        raise b.fail(f"bad glob {raw!r}: {exc}", tok) from None
    return matchers


def f_uri_path(b: _Builder) -> Predicate:
    """``uri_path(uri, "glob")``: the file a ``file:`` URI names (an MCP resource) matches, resolved as
    ``path()`` resolves a path; *cannot tell* for any other URI or one parsers read differently."""
    b.arity(2)
    ref = b.ref(0)
    matchers = _path_matchers(b)
    workspace = b.env.workspace
    fold = b.env.case_insensitive
    label = ".".join(ref)

    def pred(ctx: EvalContext) -> bool:
        value = _lookup(ctx.arguments, ref)
        if value is _MISSING or value is None:
            return False
        local = file_uri_path(value) if isinstance(value, str) else None
        if local is None:
            raise CannotTell(f"{label} is not a file: URI every reader takes for the same local file")
        path = normalise_path(local, workspace, fold)
        return path is not None and any(m.match(path) for m in matchers)

    return pred


def path_fact(b: _Builder, holds: Callable[[str, dict[Any, Any]], bool]) -> Predicate:
    """A condition on what the first argument's path *is* (``path``, ``git_dir``, ``hard_linked``): the
    value resolved as ``path()`` resolves it (and handed to the tool so), then ``holds`` of that
    path (given the decision's memo, where ``looked_up`` keeps the file it saw). A value that is not a
    string is *cannot tell*: ``open(3)`` reads descriptor 3, a tool may
    take a list of paths; which file that is cannot be told, so no deny rule may pass over it."""
    ref = b.ref(0)
    b.path_refs.add(ref)
    workspace = b.env.workspace
    fold = b.env.case_insensitive

    def pred(ctx: EvalContext) -> bool:
        value = _lookup(ctx.arguments, ref)
        if value is _MISSING or value is None:
            return False
        if not isinstance(value, str):
            raise CannotTell(f"{'.'.join(ref)} is a {type(value).__name__}, not a path")
        key = ("path", ref)
        if key in ctx.memo:
            path = ctx.memo[key]
        else:
            path = ctx.memo[key] = normalise_path(value, workspace, fold)
        return path is not None and holds(path, ctx.memo)

    return pred


def f_path(b: _Builder) -> Predicate:
    b.arity(2)
    b.ref(0)  # the first argument's mistake is reported first, before the pattern's
    matchers = _path_matchers(b)
    return path_fact(b, lambda path, _memo: any(m.match(path) for m in matchers))


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


def f_cmd(b: _Builder, *, any_: bool) -> Predicate:
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


def f_opt(b: _Builder) -> Predicate:
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


def f_regex(b: _Builder) -> Predicate:
    """``regex(arg, "re")``: RE2 syntax, a full match of the string, time linear in its length."""
    b.arity(2)
    ref = b.ref(0)
    tok = b.call.args[1]
    source = b.string(1)
    try:
        rx = re2.compile(re2_source(source), RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise b.fail(
            f"bad regular expression {source!r} ({why}): regex() uses RE2, which has no "
            "backreferences, lookahead/lookbehind or possessive quantifiers",
            tok,
        ) from None

    whole = whole_match(rx)

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        # The UTF-8 bytes the binding would match for the text (lone surrogates, which JSON allows,
        # passed through: RE2 reads each as one character). Matching the bytes skips the binding's
        # character-offset bookkeeping, which only the match's span would need (half the cost of a
        # match that succeeds).
        return whole(value.encode("utf-8", "surrogatepass"))

    return _value_pred(ref, test)


def f_glob(b: _Builder) -> Predicate:
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


def f_eq(b: _Builder) -> Predicate:
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


def f_oneof(b: _Builder) -> Predicate:
    b.arity(2, 10_000)
    ref = b.ref(0)
    literals = [_literal(b, i) for i in range(1, len(b.call.args))]
    return _value_pred(ref, lambda v: any(_eq_literal(v, lit) for lit in literals))


def f_compare(b: _Builder, op: Callable[[float, float], bool]) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    limit = b.number(1)
    return _value_pred(ref, lambda v: _is_number(v) and op(v, limit))


def f_between(b: _Builder) -> Predicate:
    b.arity(3)
    ref = b.ref(0)
    low, high = b.number(1), b.number(2)
    if low > high:
        raise b.fail(f"lower bound {low:g} is above upper bound {high:g}")
    return _value_pred(ref, lambda v: _is_number(v) and low <= v <= high)


def f_detector(b: _Builder, category: detectors.Category, kinds: Sequence[str] | None = None) -> Predicate:
    b.arity(1)
    ref = b.ref_or_star(0)
    return _value_pred(ref, lambda v: detectors.contains(v, category, kinds))


def f_before(b: _Builder) -> Predicate:
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


def f_known(b: _Builder) -> Predicate:
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

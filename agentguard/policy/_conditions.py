"""The condition language of the ``cond`` column: parsed by hand, never ``eval``'d.

This module is the compiler: it parses (``_condition_syntax``), looks each call up in the table of
functions (``_argument_conditions``, ``_net_conditions``, ``_provenance``, ``_leaks``, ``_textfacts``, all
written against ``_condition_types``) and joins their predicates with ``!``, ``&&`` and ``||``.

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

import re
from collections.abc import Callable

from agentguard.policy import _argument_conditions as _arg
from agentguard.policy._condition_syntax import ConditionError, _Bool, _Call, _Node, _Not, parse_condition

# Re-exported: the rest of agentguard, the tests and benchmarks import these from here.
from agentguard.policy._condition_syntax import _tokenize as _tokenize
from agentguard.policy._condition_syntax import _tokenize_exact as _tokenize_exact
from agentguard.policy._condition_types import _MISSING as _MISSING
from agentguard.policy._condition_types import (
    CompileEnv,
    Condition,
    EvalContext,
    FactSource,
    Predicate,
    StaticFacts,
)
from agentguard.policy._condition_types import _Builder as _Builder
from agentguard.policy._condition_types import _is_number as _is_number
from agentguard.policy._condition_types import _lookup as _lookup
from agentguard.policy._condition_types import _strict_equal as _strict_equal
from agentguard.policy._gitdirs import f_git_dir
from agentguard.policy._hardlinks import f_hard_linked
from agentguard.policy._net_conditions import f_ip, f_url
from agentguard.policy._paths import normalise_path as normalise_path
from agentguard.policy._shellmatch import Tri

__all__ = [
    "FUNCTION_NAMES",
    "CompileEnv",
    "Condition",
    "ConditionError",
    "EvalContext",
    "FactSource",
    "Predicate",
    "StaticFacts",
    "compile_condition",
]

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_CONDITION_CHARS = 20_000

# Last: they read this module back (``c.compile_condition``: named conditions compile conditions), and
# modules they import (_facts) import names from here.
from agentguard.policy import _copied as _copy  # noqa: E402
from agentguard.policy import _leaks  # noqa: E402
from agentguard.policy import _provenance as _prov  # noqa: E402
from agentguard.policy import _textfacts as _text  # noqa: E402

_FUNCTIONS: dict[str, Callable[[_Builder], Predicate]] = {
    "path": _arg.f_path,
    "uri_path": _arg.f_uri_path,
    "git_dir": f_git_dir,
    "hard_linked": f_hard_linked,
    "cmd": lambda b: _arg.f_cmd(b, any_=False),
    "cmd_any": lambda b: _arg.f_cmd(b, any_=True),
    "opt": _arg.f_opt,
    "url": f_url,
    "ip": f_ip,
    "regex": _arg.f_regex,
    "glob": _arg.f_glob,
    "eq": _arg.f_eq,
    "oneof": _arg.f_oneof,
    "lt": lambda b: _arg.f_compare(b, lambda x, y: x < y),
    "le": lambda b: _arg.f_compare(b, lambda x, y: x <= y),
    "gt": lambda b: _arg.f_compare(b, lambda x, y: x > y),
    "ge": lambda b: _arg.f_compare(b, lambda x, y: x >= y),
    "between": _arg.f_between,
    "secret": lambda b: _arg.f_detector(b, "secret"),
    "pii": lambda b: _arg.f_detector(b, "pii"),
    "email": lambda b: _arg.f_detector(b, "pii", ("email",)),
    "before": _arg.f_before,
    "known": _arg.f_known,
    "from_user": _prov.from_user,
    "trusted": _prov.trusted,
    "from_tool": _prov.from_tool,
    "untrusted": _prov.untrusted,
    "untrusted_only": _prov.untrusted_only,
    "unseen": _prov.unseen,
    "session_read": _prov.session_read,
    "carries_untrusted": _prov.carries_untrusted,
    "copies_untrusted": _copy.copies_untrusted,
    "leaks_to": _leaks.leaks_to,
    "same_source": _leaks.same_source,
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


def _and2(items: tuple[Predicate, ...]) -> Predicate:
    """``all(p(ctx) for p in items)`` without a generator per evaluation."""
    if len(items) == 2:
        first, second = items

        def pred2(ctx: EvalContext) -> bool:
            return True if first(ctx) and second(ctx) else False  # noqa: SIM210 - no bool() call

        return pred2

    def pred(ctx: EvalContext) -> bool:
        for p in items:  # noqa: SIM110 - no generator per evaluation
            if not p(ctx):
                return False
        return True

    return pred


def _or2(items: tuple[Predicate, ...]) -> Predicate:
    """``any(p(ctx) for p in items)`` without a generator per evaluation."""
    if len(items) == 2:
        first, second = items

        def pred2(ctx: EvalContext) -> bool:
            return True if first(ctx) or second(ctx) else False  # noqa: SIM210 - no bool() call

        return pred2

    def pred(ctx: EvalContext) -> bool:
        for p in items:  # noqa: SIM110 - no generator per evaluation
            if p(ctx):
                return True
        return False

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
        return _and2(items) if node.op == "&&" else _or2(items)
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
        tree = parse_condition(stripped)
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
    if len(rest) == 1:  # most conditions: one term
        tri = _tri(rest[0])
        calls = frozenset(_calls(rest[0]))
    else:
        tri = any(_tri(term) for term in rest)
        calls = frozenset(set().union(*(_calls(term) for term in rest))) if rest else frozenset()
    if not preds:
        predicate: Predicate = _always
    elif len(preds) == 1:
        predicate = preds[0]
    elif tri:
        predicate = _and3(tuple(preds))
    else:
        predicate = _and2(tuple(preds))

    return Condition(
        text, predicate, sandbox, timeout, not preds, frozenset(used), frozenset(paths), tri, calls
    )

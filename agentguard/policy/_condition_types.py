"""What every condition function is written against: the compile environment, the ``_Builder`` that
checks a call's arguments, the evaluation context, and the compiled ``Condition``.

Apart from the compiler (``_conditions``) so that the function modules can import it without a cycle.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from agentguard.policy._addresses import Resolver
from agentguard.policy._condition_syntax import ConditionError, _Call, _Tok
from agentguard.policy._shellmatch import Tri

__all__ = ["CompileEnv", "Condition", "EvalContext", "FactSource", "Predicate", "StaticFacts"]

_MISSING: Any = object()  # what _lookup answers for an argument the call does not have


@dataclass(frozen=True, slots=True)
class CompileEnv:
    """What placeholders in path patterns mean, all already ``realpath``'ed.

    ``state`` is agentguard's own state directory (settings ``home``: audit log, queue, grants),
    wherever it is configured; empty means the default, ``<home>/.agentguard``. ``policy`` is the
    policy directory being loaded (``{policy}``: an agent that may write there rewrites its rules);
    ``policy_files`` the real paths of the files that load read from elsewhere (a rule file that is a
    symlink, an extra grant file): ``{policy}/**`` covers them too. ``state_files`` the real paths of
    the state files settings put outside ``state`` (an absolute ``audit.file``): ``{state}/**`` too.
    """

    workspace: str
    home: str
    state: str = ""
    policy: str = ""
    policy_files: tuple[str, ...] = ()
    state_files: tuple[str, ...] = ()
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


# ---------------------------------------------------------------- what the functions share


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


class _Builder:
    """One call being compiled: its arguments checked by kind, its errors naming the call and column."""

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

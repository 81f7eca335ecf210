"""The engine's conditions as functions a stock ``casbin.Enforcer`` calls: the same files decided
by pycasbin itself (the benchmark's and the differential tests' reference)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from agentguard.errors import PolicyError
from agentguard.policy._addresses import Resolver
from agentguard.policy._conditions import (
    CompileEnv,
    Condition,
    ConditionError,
    EvalContext,
    FactSource,
    compile_condition,
)
from agentguard.policy._loader import condition_cache_key
from agentguard.policy._net_conditions import CannotTell

__all__ = ["casbin_functions"]


def casbin_functions(
    env: CompileEnv,
    cache: MutableMapping[str, Condition | ConditionError],
    facts: FactSource | None,
    resolver: Resolver,
) -> dict[str, Callable[..., bool]]:
    """Functions to ``add_function`` on a stock ``casbin.Enforcer`` so it evaluates these files too.

    The model's matcher calls ``argsMatch(r.args, p.cond, p.act)``; ``globMatch`` is casbin's own.
    The rule's effect settles "cannot tell" as the engine does (a match unless it is ``allow``);
    a model with the older two-argument ``argsMatch(r.args, p.cond)`` counts it as a match.
    """

    def args_match(arguments: Any, cond: str, act: str = "deny") -> bool:
        key = condition_cache_key(cond, env)
        compiled = cache.get(key)
        if compiled is None:
            try:
                compiled = compile_condition(cond, env)
            except ConditionError as exc:
                compiled = exc
            cache[key] = compiled
        if isinstance(compiled, ConditionError):
            raise PolicyError(f"condition {cond!r}: {compiled.message}")
        ctx = EvalContext(arguments, facts=facts, resolver=resolver)
        try:
            return compiled.holds(ctx, allow=act == "allow")
        except CannotTell:  # url()/ip() could not read the value: as "cannot tell"
            return act != "allow"

    return {"argsMatch": args_match}

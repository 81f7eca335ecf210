"""Deciding one call against the loaded policy: the plan for its (agent, tool) pair, each rule's
condition evaluated, the verdict of the rules that matched (memoised per plan and shared per policy).

Apart from the engine (``_engine``: building, reloading, reading the policy) because this is the
per-call path; ``PolicyEngine.decide`` wraps it so that any internal problem is a deny.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentguard.models import Decision, Effect, ToolCall, built, canonical_agent_name, canonical_tool_name
from agentguard.policy._addresses import RecordingResolver
from agentguard.policy._conditions import EvalContext, normalise_path
from agentguard.policy._index import MEMO_LIMIT
from agentguard.policy._layers import PolicyState, VerdictKey
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._paths import decided_identities, resolve_path_arguments
from agentguard.policy._types import Rule
from agentguard.policy._verdict import verdict

if TYPE_CHECKING:
    from agentguard.policy._engine import PolicyEngine

__all__ = ["decide_call", "remembered"]

_CACHE_LIMIT = 10_000
VERDICT_CACHE_LIMIT = 50_000


def remembered(cache: dict[str, str], name: str, canonical: Callable[[str], str]) -> str:
    """``canonical(name)``, remembered (bounded): names repeat on every call."""
    found = cache.get(name)
    if found is None:
        found = canonical(name)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[name] = found
    return found


def decide_call(engine: PolicyEngine, call: ToolCall) -> Decision:
    """The verdict for one call; it may raise (``PolicyEngine.decide`` makes that a deny)."""
    state = engine._state
    if state is None or engine._failure is not None:
        cause = engine._failure or "no policy loaded"
        return Decision(effect=Effect.DENY, reason=f"policy could not be loaded, failing closed: {cause}")
    tool = engine._names.get(call.tool)  # names repeat: remembered's cache, read in place
    if tool is None:
        try:
            tool = remembered(engine._names, call.tool, canonical_tool_name)
        except ValueError as exc:
            return Decision(effect=Effect.DENY, reason=f"invalid tool name, denied: {exc}")
    agent = engine._agents.get(call.agent)
    if agent is None:
        try:
            agent = remembered(engine._agents, call.agent, canonical_agent_name)
        except ValueError as exc:
            return Decision(effect=Effect.DENY, reason=f"invalid agent name, denied: {exc}")
    plan = state.index.plan(agent, tool)
    ctx: EvalContext | None = None
    recorder: RecordingResolver | None = None
    resolved: dict[str, Any] | None = None
    if plan.path_refs:
        recorder = RecordingResolver(engine._resolver)
        ctx = EvalContext(call.arguments, facts=state.facts, resolver=recorder)
        resolved, unresolved = _resolve_paths(engine, call.arguments, plan.path_refs, ctx)
        if unresolved:
            return Decision(
                effect=Effect.DENY,
                reason=f"path argument {', '.join(unresolved)} cannot be resolved (a symlink loop, "
                "a NUL byte, empty or too long), failing closed",
            )
    hits: list[int] = []
    why_unsure: list[str] = []  # what url()/ip() could not read, for the reason
    for i, rule in enumerate(plan.rules):
        condition = rule.condition
        if not condition.unconditional:
            if ctx is None:
                recorder = RecordingResolver(engine._resolver)
                ctx = EvalContext(call.arguments, facts=state.facts, resolver=recorder)
            try:
                held = condition.predicate(ctx)
            except CannotTell as exc:  # url()/ip() could not read the value: as "cannot tell"
                held = None
                if rule.effect is not Effect.ALLOW:
                    why_unsure.append(f"{rule.ref}: {exc.reason}")
            except Exception as exc:  # noqa: BLE001 - fail closed, naming the rule
                return Decision(
                    effect=Effect.DENY,
                    reason=f"error evaluating {rule.ref} ({rule.ref.text}), failing closed: "
                    f"{type(exc).__name__}: {exc}",
                    matched=tuple(plan.rules[j if j >= 0 else ~j].ref for j in hits),
                )
            if not held:
                # None is "cannot tell": a match for deny and ask rules, never for an allow rule.
                if held is None and rule.effect is not Effect.ALLOW:
                    hits.append(~i)  # recorded apart, so the reason can say so
                continue
        hits.append(i)
    memo = plan.memo
    decision = memo.get(tuple(hits)) if memo is not None else None
    if decision is None:
        decision = _shared_verdict(engine, state, plan.rules, hits)
        if memo is not None:
            if len(memo) < MEMO_LIMIT:
                memo[tuple(hits)] = decision
        elif plan.used:  # a pair seen again: worth its own memo
            plan.memo = {tuple(hits): decision}
        else:
            plan.used = True
    resolved_addresses = recorder.answers() if recorder is not None else {}
    if why_unsure or resolved_addresses:
        reason = decision.reason + "".join(f"; cannot tell ({u}), so it applies" for u in why_unsure)
        decision = decision.model_copy(update={"reason": reason, "resolved": resolved_addresses})
    if plan.path_refs:  # every decision of such a plan: a plain copy, not model_copy (~4 us)
        fields = {**decision.__dict__, "path_arguments": plan.path_names}
        if ctx is not None:
            fields["files"] = decided_identities(ctx.memo)
        if resolved is not None:
            fields["arguments"] = resolved
        decision = built(Decision, fields)
    return decision


def _shared_verdict(
    engine: PolicyEngine, state: PolicyState, rules: Sequence[Rule], hits: Sequence[int]
) -> Decision:
    """The verdict for these matched rules, shared by every (agent, tool) plan of the policy: a new
    pair mostly matches what others did (no rule at all, most often)."""
    if len(hits) == 1:  # the common cases inline: one rule's order, or none
        i = hits[0]
        key: VerdictKey = rules[i].order if i >= 0 else ~rules[~i].order
    else:
        key = _verdict_key([rules[i].order if i >= 0 else ~rules[~i].order for i in hits]) if hits else ()
    decision = state.verdicts.get(key)
    if decision is None:
        matched = [rules[i if i >= 0 else ~i] for i in hits]
        unsure = frozenset(rules[~i].ref for i in hits if i < 0)
        decision = verdict(matched, engine._default, unsure)
        if len(state.verdicts) >= VERDICT_CACHE_LIMIT:
            state.verdicts.clear()
        state.verdicts[key] = decision
    return decision


def _verdict_key(orders: list[int]) -> VerdictKey:
    """The matched rules' orders (``~order``: matched as "cannot tell") as a key the cyclic GC does
    not track: one order, the orders' bytes, ``()`` for none (a tuple beyond 64 bits). A new
    verdict's key is kept, and every object a first-sight decision leaves behind brings the next
    collection pass (~60-90 us at 100,000 rules) closer."""
    if len(orders) == 1:
        return orders[0]
    if not orders:
        return ()
    try:
        return array("q", orders).tobytes()
    except OverflowError:
        return tuple(orders)


def _resolve_paths(
    engine: PolicyEngine, arguments: dict[str, Any], refs: Sequence[tuple[str, ...]], ctx: EvalContext
) -> tuple[dict[str, Any] | None, list[str]]:
    """Resolve every argument a ``path()`` of these rules reads; the tool gets what they saw."""
    workspace, fold = engine._env.workspace, engine._env.case_insensitive
    return resolve_path_arguments(arguments, refs, lambda v: normalise_path(v, workspace, fold), ctx.memo)

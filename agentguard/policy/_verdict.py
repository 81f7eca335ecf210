"""A verdict from the rules a call matched: which effect wins, which rule is named, where it runs.

Apart from the engine because it is a pure function of the matched rules (plans memoise it) and is
made once per distinct set of them: with unique calls, part of the first-sight tail.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentguard.models import Decision, Effect, RuleRef, built
from agentguard.policy._types import Rule

__all__ = ["verdict"]

_VERB = {Effect.DENY: "denied by", Effect.ASK: "approval required by", Effect.ALLOW: "allowed by"}
_EVERY_FIELD = set(Decision.model_fields)  # the fields-set of every verdict: kept verdicts share it


def _winners(matched: Sequence[Rule]) -> list[Rule]:
    """The matched rules of the winning effect, in order: deny > granted allow > ask > allow (one
    pass: made for every new verdict, and with unique calls that is the tail of first sight)."""
    denies: list[Rule] = []
    grants: list[Rule] = []
    asks: list[Rule] = []
    for r in matched:
        effect = r.effect
        if effect is Effect.DENY:
            denies.append(r)
        elif effect is Effect.ASK:
            asks.append(r)
        elif r.grant and effect is Effect.ALLOW:
            grants.append(r)
    return denies or grants or asks or list(matched)


def verdict(matched: Sequence[Rule], default: Effect, unsure: frozenset[RuleRef] = frozenset()) -> Decision:
    """The decision for a set of matched rules (``default`` when there are none).

    ``unsure``: rules that matched because their condition could not tell. Built from the checked
    rule values without pydantic's validation, the slowest part of a first-sight call."""
    if not matched:
        return Decision(effect=default, reason=f"no rule matched; default is {default.value}")
    winners = _winners(matched) if len(matched) > 1 else matched
    rule = winners[0]
    ref = rule.ref
    sandbox: str | None = None  # the first winner's that has one; the same for the timeout
    timeout: float | None = None
    for r in winners:
        condition = r.condition
        if not sandbox:
            sandbox = condition.sandbox
        if timeout is None:
            timeout = condition.timeout_s
    sandbox = sandbox or None
    if sandbox is None and rule.grant:
        # A grant settles an ask; it does not say where the code runs: the rules it settles do
        # (without this, an "approve always" moved every later call to the default profile).
        settled = _winners([r for r in matched if not r.grant])
        sandbox = next((r.sandbox_profile for r in settled if r.sandbox_profile), None)
    reason = f"{_VERB[rule.effect]} {'grant ' if rule.grant else ''}{ref} ({ref.text})"
    if unsure and ref in unsure:
        reason += "; its condition cannot tell (the command's meaning is known only when it runs)"
    return built(
        Decision,
        {
            "effect": rule.effect,
            "rule": ref,
            "reason": reason,
            "matched": tuple([r.ref for r in matched]),
            "sandbox_profile": sandbox,
            "approval_timeout_s": timeout,
            "resolved": {},
            "arguments": None,
            "path_arguments": (),
            "files": {},
        },
        _EVERY_FIELD,
    )

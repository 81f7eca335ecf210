"""Deciding a call: the policy asked (fail closed), the evidence for a stopped call gathered, and the
one ``policy.decided`` record."""

from __future__ import annotations

from typing import Any, TypeGuard

from agentguard._guard.records import keyed_texts, record, resolved_field
from agentguard.errors import PolicyDenied
from agentguard.models import NO_RULE, Decision, Effect, RuleRef, ToolCall
from agentguard.pipeline import AuditSink, PolicyDecider, RefreshablePolicy
from agentguard.session import current_session
from agentguard.session._evidence import collecting_evidence

__all__ = ["decide", "policy_decide"]


def policy_decide(policy: PolicyDecider, call: ToolCall) -> Decision:
    """The policy's decision, unrecorded; a policy that fails is a deny whose reason is the failure."""
    try:
        if _refreshable(policy):
            policy.refresh_due()
        return policy.decide(call)
    except Exception as exc:  # noqa: BLE001 - fail closed on any policy failure
        return Decision(effect=Effect.DENY, reason=f"policy evaluation failed: {exc}")


_REFRESHABLE: dict[type, bool] = {}


def _refreshable(policy: object) -> TypeGuard[RefreshablePolicy]:
    """``isinstance(policy, RefreshablePolicy)``, answered once per class: a runtime protocol check
    looks up every member each time (3 us, on every guarded call)."""
    known = _REFRESHABLE.get(type(policy))
    if known is None:
        known = _REFRESHABLE[type(policy)] = isinstance(policy, RefreshablePolicy)
    return known


_EFFECT_TEXT = {effect: effect.value for effect in Effect}  # ``.value`` is a Python-level property
_RULE_FIELDS: dict[int, tuple[RuleRef, str, str]] = {}


def _rule_fields(rule: RuleRef) -> tuple[str, str]:
    """(``Decision.rule_id``, the rule's text) of ``rule``, remembered per rule object (kept alive
    by the entry, so its id names no other): the policy's memoised decisions share their rules."""
    known = _RULE_FIELDS.get(id(rule))
    if known is not None and known[0] is rule:
        return known[1], known[2]
    rule_id, text = str(rule), rule.text
    if len(_RULE_FIELDS) >= 4096:
        _RULE_FIELDS.clear()
    _RULE_FIELDS[id(rule)] = (rule, rule_id, text)
    return rule_id, text


def decide(policy: PolicyDecider, audit: AuditSink, call: ToolCall, *, edited: bool = False) -> Decision:
    """Decide ``call``, audit the decision, raise ``PolicyDenied`` on deny.

    An approver's edit is decided again (an edit cannot override a deny rule); that re-decision is
    recorded only when it denies, so the call's recorded effect stays the one the approver answered.
    """
    decision = policy_decide(policy, call)
    evidence: list[str] = []
    if decision.effect is not Effect.ALLOW and current_session() is not None:
        # Where the values came from, for the record and the approver: gathered only for the
        # calls that are stopped, by deciding once more (the same rules on the same session).
        with collecting_evidence() as evidence:
            policy_decide(policy, call)
        if evidence and decision.effect is Effect.ASK:  # the person asked sees where values came from
            more = f"; and {len(evidence) - 5} more" if len(evidence) > 5 else ""
            decision = decision.model_copy(
                update={"reason": f"{decision.reason}; evidence: {'; '.join(evidence[:5])}{more}"}
            )
    own = decision.__dict__  # read once: pydantic's attribute hook costs ~650 instructions a read
    effect = own["effect"]
    if not edited or effect is Effect.DENY:
        rule = own["rule"]
        extra: dict[str, Any] = {}
        if own["resolved"]:  # addresses ip() checked
            extra["resolved"] = own["resolved"]
        if own["arguments"] is not None:
            extra.update(resolved_field(call, decision))
        if evidence:
            extra["evidence"] = evidence
        rule_id, rule_text = _rule_fields(rule) if rule is not None else (NO_RULE, None)
        record(
            audit,
            "policy.decided",
            call,
            # a stopped call's reason and evidence quote its values: a key-named secret's among them
            hide=keyed_texts(call.arguments) if effect is not Effect.ALLOW else (),
            effect=_EFFECT_TEXT[effect],
            rule=rule_id,
            rule_text=rule_text,
            reason=own["reason"],
            sandbox_profile=own["sandbox_profile"],
            **extra,
        )
    if effect is Effect.DENY:
        raise PolicyDenied(
            f"{call.tool}{' (edited)' if edited else ''} denied: {decision.reason}",
            tool=call.tool,
            rule=decision.rule_id,
            reason=decision.reason,
            call_id=call.id,
        )
    return decision

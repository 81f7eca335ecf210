"""The approval step of an ``ask``: the approver asked (sync, or awaited), its answer recorded and
enforced, an edit validated and decided again, and the approved call decided once more just before it
runs (``VerdictChanged``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentguard._guard import Parts
from agentguard._guard.decide import decide, policy_decide
from agentguard._guard.records import keyed_texts, record, verdict
from agentguard.errors import (
    AgentGuardError,
    ApprovalDenied,
    ApprovalTimeout,
    InvalidArguments,
    VerdictChanged,
)
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus, Decision, Effect, ToolCall
from agentguard.pipeline import AsyncApprover
from agentguard.registry import RegisteredTool
from agentguard.secret_arguments import masked, secret_texts, unmasked

__all__ = ["aask", "ask", "recheck", "resolve"]


def _request(parts: Parts, call: ToolCall, decision: Decision) -> ApprovalRequest:
    timeout = decision.approval_timeout_s or parts.settings.approval.timeout_s
    record(
        parts.audit,
        "approval.requested",
        call,
        hide=keyed_texts(call.arguments),  # the reason quotes values (evidence)
        timeout_s=timeout,
        rule=decision.rule_id,
        reason=decision.reason,
    )
    if call.secrets:  # a person sees (and the queue stores) the call with its secrets masked
        decision = _masked(call, decision)
        call = call.model_copy(update={"arguments": masked(call.arguments, call.secrets)})
    return ApprovalRequest(call=call, decision=decision, timeout_s=timeout)


def _masked(call: ToolCall, decision: Decision) -> Decision:
    """``decision`` with ``call``'s secrets masked: in its resolved arguments, and out of the files it
    names (a secret a ``path()`` reads is a key there, resolved). The guard runs on the unmasked one."""
    texts = {*secret_texts(call.arguments, call.secrets)}
    update: dict[str, Any] = {}
    if decision.arguments is not None:
        texts.update(secret_texts(decision.arguments, call.secrets))
        update["arguments"] = masked(decision.arguments, call.secrets)
    if decision.files:
        update["files"] = {k: v for k, v in decision.files.items() if not any(t in k for t in texts)}
    return decision.model_copy(update=update) if update else decision


def _outcome(result: ApprovalResult | BaseException, started: float) -> ApprovalResult:
    """The approver's answer with the time waited; an approver that raised is a deny (fail closed)."""
    if isinstance(result, BaseException):
        result = ApprovalResult(
            status=ApprovalStatus.DENIED,
            approver="agentguard",
            channel="error",
            reason=f"approval channel failed: {type(result).__name__}: {result}",
        )
    if not result.waited_s:
        result = result.model_copy(update={"waited_s": round(time.monotonic() - started, 3)})
    return result


def ask(parts: Parts, call: ToolCall, decision: Decision) -> ApprovalResult:
    request = _request(parts, call, decision)
    started = time.monotonic()
    try:
        answer: ApprovalResult | BaseException = parts.approver.request(request)
    except Exception as exc:  # noqa: BLE001 - a broken channel denies
        answer = exc
    return _outcome(answer, started)


async def aask(parts: Parts, call: ToolCall, decision: Decision) -> ApprovalResult:
    """Await approvers that can wait without a thread (``arequest``); others wait in a worker thread."""
    request = _request(parts, call, decision)
    started = time.monotonic()
    approver = parts.approver
    try:
        if isinstance(approver, AsyncApprover):
            answer: ApprovalResult | BaseException = await approver.arequest(request)
        else:
            answer = await asyncio.to_thread(approver.request, request)
    except Exception as exc:  # noqa: BLE001 - a broken channel denies
        answer = exc
    return _outcome(answer, started)


def resolve(
    parts: Parts, entry: RegisteredTool, call: ToolCall, decision: Decision, result: ApprovalResult
) -> tuple[ToolCall, Decision]:
    """Record ``approval.resolved`` and enforce the answer: the call and decision to run, or raise
    (``ApprovalDenied``, ``ApprovalTimeout``, ``InvalidArguments`` for a bad edit, ``PolicyDenied`` for
    an edit a rule denies, ``VerdictChanged``)."""
    edited = result.approved and result.edited_arguments is not None
    new_call = call
    failure: AgentGuardError | None = None
    if edited:
        # the approver saw the secrets masked: where the edit still holds the mask, the secret stays
        edit = unmasked(result.edited_arguments or {}, call.arguments, call.secrets)
        try:
            _, json_args, secrets = entry.validate(edit)
            new_call = call.model_copy(update={"arguments": json_args, "secrets": secrets})
        except InvalidArguments as exc:
            failure = exc
    record(
        parts.audit,
        "approval.resolved",
        call.model_copy(update={"secrets": tuple(dict.fromkeys(call.secrets + new_call.secrets))}),
        status=result.status.value,
        approver=result.approver,
        channel=result.channel,
        reason=result.reason,
        scope=result.scope,
        edited=edited,
        original_arguments=call.arguments if edited else None,
        arguments=new_call.arguments,
        waited_s=result.waited_s,
    )
    if failure is not None:
        raise failure
    approval = parts.settings.approval
    if result.status is ApprovalStatus.TIMEOUT and approval.on_timeout is not Effect.ALLOW:
        waited_for = decision.approval_timeout_s or approval.timeout_s
        raise ApprovalTimeout(
            f"{call.tool}: no approval within {waited_for:g}s",
            tool=call.tool,
            call_id=call.id,
            waited_s=result.waited_s,
        )
    if not result.approved and result.status is not ApprovalStatus.TIMEOUT:
        raise ApprovalDenied(
            f"{call.tool} denied by {result.approver}: {result.reason or 'no reason given'}",
            tool=call.tool,
            call_id=call.id,
            approver=result.approver,
            reason=result.reason,
        )
    if edited:
        # An approver's edit cannot override a deny rule: the edited call is decided again.
        redecision = decide(parts.policy, parts.audit, new_call, edited=True)
        # The tool runs on what the re-decision checked: its resolved paths, the addresses its ip()
        # conditions saw (no second lookup for an edited host) and the rules that matched the edit.
        # A path the edit kept holds to the file the approver was asked about, not to one the
        # re-decision found there after the wait (an edit is never asked about again).
        files = {**redecision.files, **{k: v for k, v in decision.files.items() if k in redecision.files}}
        return new_call, _checked(decision, redecision, redecision.sandbox_profile, files)
    current = recheck(parts, call, decision)
    # Names may resolve elsewhere after the wait: connect to the addresses the last check allowed.
    # The files are the ones the approver was asked about: one put in their place during the wait
    # is refused by the file tools, even when the re-decision lets it through (an ask, approved).
    return new_call, _checked(decision, current, decision.sandbox_profile, decision.files)


def _checked(
    approved: Decision, last: Decision, profile: str | None, files: dict[str, tuple[int, int] | None]
) -> Decision:
    """The approved decision, carrying what ``last`` (the latest decision on the call) checked."""
    return approved.model_copy(
        update={
            "sandbox_profile": profile,
            "arguments": last.arguments,
            "resolved": last.resolved,
            "rule": last.rule,
            "matched": last.matched,
            "files": files,
        }
    )


def recheck(parts: Parts, call: ToolCall, approved: Decision) -> Decision:
    """Decide the approved call again just before it runs: files (and the policy) may have changed
    during the wait. A deny, or resolved arguments other than the approved ones (the path now
    names another file), refuses the call and audits ``execution.refused`` with both verdicts.
    Returns the current decision (its ``resolved`` addresses are the ones to connect to)."""
    current = policy_decide(parts.policy, call)
    if current.effect is not Effect.DENY and current.arguments == approved.arguments:
        return current
    verdicts = {"approved": verdict(call, approved), "current": verdict(call, current)}
    what = "is now denied" if current.effect is Effect.DENY else "now resolves to other arguments"
    error = VerdictChanged(
        f"{call.tool}: the approved call {what}: {current.reason}",
        tool=call.tool,
        call_id=call.id,
        **verdicts,
    )
    record(
        parts.audit,
        "execution.refused",
        call,
        hide=keyed_texts(call.arguments),
        error=error.to_dict(),
        approved=verdicts["approved"],
        current=verdicts["current"],
    )
    raise error

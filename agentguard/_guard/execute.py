"""Running a decided call: ``execution.started`` (with the sandbox profile), the bracket that sets
``current_call()`` and turns any failure into an audited typed error, the result processed for the
session (redaction, provenance) and ``execution.finished``."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, cast

from agentguard._guard import Parts
from agentguard._guard.records import decided_arguments, keyed_texts, record, summary
from agentguard.context import CALL_VAR, CallContext, ToolCaller
from agentguard.errors import AgentGuardError, AuditError, ToolFailed
from agentguard.models import Decision, ToolCall
from agentguard.pipeline import AuditSink
from agentguard.registry import RegisteredTool
from agentguard.secret_arguments import secret_texts
from agentguard.session import Session, live_session
from agentguard.session._record import (
    UNFORMED,
    ReadResult,
    Redacted,
    keep_result,
    plain_json,
    process_failure,
    read_redacted,
    read_result,
    redact_result,
)
from agentguard.session._redacted_errors import redacted_chain, redacted_text

__all__ = ["finished", "run_coroutine", "running", "start"]

_logger = logging.getLogger("agentguard.guard")


def start(
    parts: Parts,
    entry: RegisteredTool,
    call: ToolCall,
    decision: Decision,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record ``execution.started``; the keyword arguments to call the tool with. ``values``: what
    validating ``call``'s arguments again gives (``receive``), used when deciding changed none."""
    # From the decided (JSON) arguments, not the caller's objects: the tool runs what was decided,
    # with the resolved paths the rules saw (see ``Decision.arguments``).
    if values is None or decision.arguments is not None:
        kwargs = entry.kwargs(decided_arguments(call, decision))
    else:
        kwargs = values
    fields: dict[str, Any] = {}
    if entry.sandboxed:
        sandbox = parts.settings.sandbox
        name = decision.sandbox_profile or sandbox.default_profile
        fields["sandbox_profile"] = name
        profile = sandbox.profiles.get(name)
        if profile is not None:
            fields["loosenings"] = profile.loosenings()
    record(parts.audit, "execution.started", call, **fields)
    return kwargs


class running:  # named as the function it replaced: ``with running(...) as started``
    """The execution bracket: ``current_call()`` is set inside; any exception is audited and
    surfaces as a typed error (``ToolFailed``), interrupts as themselves. A class, not a generator
    context manager: it is on every guarded call, and a generator's frames cost a fifth more."""

    __slots__ = ("_call", "_caller", "_decision", "_parts", "_started", "_token")

    def __init__(self, parts: Parts, call: ToolCall, decision: Decision, *, caller: ToolCaller) -> None:
        self._parts = parts
        self._call = call
        self._decision = decision
        self._caller = caller

    def __enter__(self) -> float:
        self._started = started = time.perf_counter()
        context = CallContext(self._call, self._decision, self._parts.settings, self._caller)
        self._token = CALL_VAR.set(context)
        return started

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is not None:
                self._failure(exc)
        finally:
            CALL_VAR.reset(self._token)

    def _failure(self, exc: BaseException) -> None:
        """Audit ``exc`` and raise what the caller gets (returns for ``exc`` itself: it propagates)."""
        parts, call = self._parts, self._call
        # The error text reaches the model too: read into the session like a result.
        process_failure(
            parts.policy,
            live_session(),
            tool=call.tool,
            call_id=call.id,
            arguments=call.arguments,
            error=exc,
        )
        error, own = _failed(parts, call, exc, self._started)
        if error is exc:
            return
        if own:  # a redacted copy of the tool's own typed error, with its redacted chain
            raise error from error.__cause__
        # the tool's error is the cause a traceback prints: redacted as its message is
        raise error from redacted_chain(parts.policy, call.tool, exc)


def finished(
    parts: Parts,
    call: ToolCall,
    value: Any,
    started: float,
    deliver: Callable[[Any], None] | None = None,
    summarize: Callable[[Any], Any] | None = None,
) -> Any:
    """Process the result for the session, record ``execution.finished``; the value the caller gets.
    ``summarize``: the form of the value the session reads and the record sums up (``Guard.acall``).

    ``deliver`` gets that value as soon as it is known (redacted), before the session reads and
    records it and before ``execution.finished``. All of that follows at once, in this thread and
    without yielding to an event loop, so no later call is decided before the result is recorded.
    A result that is not JSON data (whose reading could fail, or consume a stream) is read first.
    """
    duration_ms = (time.perf_counter() - started) * 1000
    session = live_session()
    own = call.__dict__  # read once: pydantic's attribute hook costs ~650 instructions a read
    tool = own["tool"]
    try:
        if deliver is not None and session is not None:
            redacted = redact_result(parts.policy, tool=tool, value=value)
            if redacted.withheld is None and plain_json(value):
                return _answer_first(parts, call, value, redacted, duration_ms, deliver, summarize)
            read = read_redacted(session, redacted, value=value, form=summarize)
        else:
            read = read_result(parts.policy, session, tool=tool, value=value, form=summarize)
        shown, keyed = _summed_up(own, read, summarize)
        if deliver is None or read.withheld is not None:
            fields = keep_result(session, read, tool=tool, call_id=own["id"], arguments=own["arguments"])
    except ToolFailed as withheld:  # the result could not be redacted: the caller gets this instead
        _audit_failure(parts.audit, call, withheld, round(duration_ms, 3))
        raise withheld from None
    except Exception as exc:  # noqa: BLE001 - a result the guard cannot read (nested past the
        # interpreter's recursion limit, an object whose printing raises) is not handed back unread
        unread = ToolFailed(
            f"{call.tool}: the result was withheld: the guard could not read it ({type(exc).__name__})",
            tool=call.tool,
            withheld=True,
        )
        _audit_failure(parts.audit, call, unread, round(duration_ms, 3))
        raise unread from None
    if deliver is not None and read.withheld is None:
        fields, undelivered = _delivered(call, session, read.shown, read.fields, lambda: read, deliver)
        if undelivered is not None:  # recorded, but the caller has no answer: the call failed
            _audit_failure(parts.audit, call, undelivered, round(duration_ms, 3))
            raise undelivered
    _finish_records(parts, own, fields, shown, keyed, duration_ms)
    return read.shown


def _summed_up(
    own: dict[str, Any], read: ReadResult, summarize: Callable[[Any], Any] | None
) -> tuple[Any, list[str]]:
    """(the result as ``execution.finished`` sums it up: in its form, the call's secrets masked;
    the texts of its key-named secret arguments, ``keyed_texts``)."""
    keyed = keyed_texts(own["arguments"])
    hide = secret_texts(own["arguments"], own["secrets"]) if own["secrets"] else []
    if keyed:
        hide = sorted({*hide, *keyed}, key=len, reverse=True)
    if summarize is None:
        formed = read.shown
    else:  # read_result formed it already when a session read it
        formed = summarize(read.shown) if read.formed is UNFORMED else read.formed
    return summary(formed, hide), keyed


def _finish_records(
    parts: Parts,
    own: dict[str, Any],
    fields: dict[str, Any],
    shown: Any,
    keyed: list[str],
    duration_ms: float,
) -> None:
    if "redacted" in fields:
        record(parts.audit, "result.redacted", own, hide=keyed, kinds=fields["redacted"])
    record(
        parts.audit,
        "execution.finished",
        own,
        hide=keyed,
        duration_ms=round(duration_ms, 3),
        result=shown,
        **fields,
    )


def _answer_first(
    parts: Parts,
    call: ToolCall,
    value: Any,
    redacted: Redacted,
    duration_ms: float,
    deliver: Callable[[Any], None],
    summarize: Callable[[Any], Any] | None,
) -> Any:
    """``finished`` for JSON data: the redacted result handed on, then read for the session,
    recorded there and in the audit log, in that order, without yielding in between. A reading
    that fails after the answer went out makes the session fail closed (``_delivered``)."""
    own = call.__dict__
    session = live_session()
    box: list[ReadResult] = []

    def reading() -> ReadResult:
        box.append(read_redacted(session, redacted, value=value, form=summarize))
        return box[0]

    fields, undelivered = _delivered(call, session, redacted.shown, redacted.fields, reading, deliver)
    try:
        shown, keyed = _summed_up(own, box[0] if box else _unread(redacted), summarize)
    except Exception as exc:  # noqa: BLE001 - the answer is out: the record says why it has no summary
        shown, keyed = (
            f"[the result could not be summed up: {type(exc).__name__}]",
            keyed_texts(own["arguments"]),
        )
    if undelivered is not None:  # recorded, but the caller has no answer: the call failed
        _audit_failure(parts.audit, call, undelivered, round(duration_ms, 3))
        raise undelivered
    _finish_records(parts, own, fields, shown, keyed, duration_ms)
    return redacted.shown


def _unread(redacted: Redacted) -> ReadResult:
    return ReadResult(redacted.shown, redacted.fields, None, [], [])


def _delivered(
    call: ToolCall,
    session: Session | None,
    shown: Any,
    fields: dict[str, Any],
    read: Callable[[], ReadResult],
    deliver: Callable[[Any], None],
) -> tuple[dict[str, Any], ToolFailed | None]:
    """Hand ``shown`` on, then read it (``read``) and record it in the session (also when handing it
    on failed: part of it may have gone). If that fails after the caller has the result, the session
    counts as having read anything (untrusted, secret, pii), so what comes next is decided as if
    nothing were known. (the audit fields, the error the caller gets instead when ``deliver`` raised)."""
    undelivered: ToolFailed | None = None
    try:
        deliver(shown)
    except Exception as exc:  # noqa: BLE001 - e.g. an answer the agent's protocol cannot carry
        # only the type: the message may quote the result, which is not audited unredacted
        undelivered = ToolFailed(
            f"{call.tool}: its result could not be handed on: {type(exc).__name__}",
            tool=call.tool,
            exception=type(exc).__name__,
        )
    finally:
        try:
            read_out = read()
            fields = keep_result(session, read_out, tool=call.tool, call_id=call.id, arguments=call.arguments)
        except Exception as exc:  # noqa: BLE001 - the result is already out: fail closed from here on
            _logger.error(
                "%s: the result of call %s was not recorded in its session: %r", call.tool, call.id, exc
            )
            if session is not None:
                for mark in ("untrusted", "secret", "pii"):
                    session.mark(mark, by=f"the output of {call.tool}, which could not be recorded")
            fields = {**fields, "provenance_error": type(exc).__name__}
    return fields, undelivered


def _failed(parts: Parts, call: ToolCall, exc: BaseException, started: float) -> tuple[BaseException, bool]:
    """(what the caller gets, whether it is the tool's own typed error: ``exc`` itself when nothing in
    it or its causes is redacted, else a copy with its causes redacted)."""
    duration = round((time.perf_counter() - started) * 1000, 3)
    audit: AuditSink = parts.audit
    shown = redacted_chain(parts.policy, call.tool, exc) if isinstance(exc, AgentGuardError) else None
    own = isinstance(shown, AgentGuardError)
    if isinstance(shown, AgentGuardError):  # the tool's own typed error (an upstream's, a nested call's)
        error = shown
    elif isinstance(exc, Exception):
        # the message reaches the model (the MCP proxy answers with it): redacted as a result would be
        error = ToolFailed(
            redacted_text(parts.policy, call.tool, f"{call.tool} failed: {type(exc).__name__}: {exc}"),
            tool=call.tool,
            exception=type(exc).__name__,
        )
    else:
        error = ToolFailed(
            f"{call.tool} interrupted: {type(exc).__name__}", tool=call.tool, exception=type(exc).__name__
        )
    _audit_failure(audit, call, error, duration)
    return (error, own) if isinstance(exc, Exception) else (exc, False)


def _audit_failure(audit: AuditSink, call: ToolCall, error: AgentGuardError, duration_ms: float) -> None:
    """``execution.failed``; a failed write is named in the error rather than hiding it."""
    try:
        hide = keyed_texts(call.arguments)
        record(audit, "execution.failed", call, hide=hide, duration_ms=duration_ms, error=error.to_dict())
    except AuditError as audit_exc:
        error.data["audit_error"] = str(audit_exc)


def run_coroutine(coro: Awaitable[Any]) -> Any:
    """Run an async tool from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(cast(Any, coro))
    box: dict[str, Any] = {}
    # The helper thread would start with an empty context: the tool must still see current_call().
    context = contextvars.copy_context()

    def runner() -> None:
        try:
            box["value"] = context.run(asyncio.run, cast(Any, coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="agentguard-async-tool")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]

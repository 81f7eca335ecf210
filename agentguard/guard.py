"""The one place that knows the order of the steps.

receive (validate) -> decide (policy) -> approve (when ask) -> execute -> audit each step.
Anything that goes wrong before the tool runs means the tool does not run (fail closed), and
the reason is in the audit log.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from agentguard.context import CallContext, current_call, serving
from agentguard.errors import (
    AgentGuardError,
    ApprovalDenied,
    ApprovalTimeout,
    AuditError,
    InvalidArguments,
    PolicyDenied,
    ToolFailed,
    UnknownTool,
    VerdictChanged,
)
from agentguard.models import (
    ApprovalRequest,
    ApprovalResult,
    ApprovalStatus,
    Decision,
    Effect,
    ToolCall,
    new_id,
)
from agentguard.pipeline import (
    Approver,
    AsyncApprover,
    AuditSink,
    Closeable,
    PolicyDecider,
    RefreshablePolicy,
)
from agentguard.registry import RegisteredTool, ToolRegistry, bind_arguments
from agentguard.sandbox_api import SandboxBackend
from agentguard.session import Session, SessionScope, current_session
from agentguard.session._audit import SessionRecorder
from agentguard.session._evidence import collecting_evidence
from agentguard.session._record import process_result
from agentguard.settings import Settings, load_settings

__all__ = ["CallContext", "Guard", "current_call"]  # the context names stay importable from here

F = TypeVar("F", bound=Callable[..., Any])
_SUMMARY_CHARS = 500


def _summary(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SUMMARY_CHARS:
        return text[:_SUMMARY_CHARS] + f"... [{len(text) - _SUMMARY_CHARS} more chars]"
    return text


class Guard:
    """Wraps a tool registry so every call is decided, approved, run and audited.

    See ``docs/architecture.md``. Construct with explicit parts, or with none to use the
    settings (``agentguard.toml``, env, defaults).
    """

    def __init__(
        self,
        policy: PolicyDecider | Path | str | None = None,
        *,
        approver: Approver | None = None,
        audit: AuditSink | Path | str | None = None,
        settings: Settings | None = None,
        agent: str | None = None,
        session: str | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.audit = self._make_audit(audit)  # first: the policy reports skipped grants to it
        self.policy = self._make_policy(policy)
        self.approver = approver if approver is not None else self._default_approver()
        self.agent = agent or self.settings.agent
        self.session_id = session  # the id calls outside any guard.session(...) are recorded under
        self._registry = ToolRegistry()
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        approver: Approver | None = None,
        agent: str | None = None,
        session: str | None = None,
    ) -> Guard:
        """The guard the settings describe: their policy directory plus grants, their audit log, and the
        terminal approver on a TTY (else ask means deny) unless ``approver`` is given."""
        return cls(settings=settings or load_settings(), approver=approver, agent=agent, session=session)

    # -- construction -------------------------------------------------------------------------
    def _make_policy(self, policy: PolicyDecider | Path | str | None) -> PolicyDecider:
        if policy is not None and not isinstance(policy, Path | str):
            return policy
        from agentguard.approval import settings_grant_source
        from agentguard.policy import PolicyEngine, policy_from_settings

        settings = self.settings
        if policy is not None:
            settings = settings.model_copy(update={"policy_dir": Path(policy)})

        def grant_problem(finding: Any) -> None:  # a skipped grant is audited, never silent
            self.audit.record("policy.grant_skipped", **finding.model_dump())

        # Grants come from the approval store (the store of record), not from grants.csv.
        build = PolicyEngine.from_settings if policy is not None else policy_from_settings
        return build(settings, grants=settings_grant_source(settings), on_grant_problem=grant_problem)

    def _make_audit(self, audit: AuditSink | Path | str | None) -> AuditSink:
        if audit is not None and not isinstance(audit, Path | str):
            return audit
        from agentguard.audit import AuditLog, open_audit

        if audit is None:
            return open_audit(self.settings)  # the file in the home, or the shared database
        path = Path(audit)
        return AuditLog(
            path, durability=self.settings.audit.durability, batch_size=self.settings.audit.batch_size
        )

    @staticmethod
    def _default_approver() -> Approver:
        if sys.stdin is not None and sys.stdin.isatty():
            from agentguard.approval.terminal import TerminalApprover

            return TerminalApprover()
        from agentguard.approval.scripted import DenyApprover

        return DenyApprover("no approver configured and stdin is not a TTY: ask means deny")

    def close(self) -> None:
        """Release what the guard's tools hold (sandbox containers), then flush and close the audit log."""
        closers, self._closers = self._closers, []
        for close in closers:
            close()
        if isinstance(self.audit, Closeable):
            self.audit.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -----------------------------------------------------------------------------
    def session(
        self,
        *,
        user_request: str | None = None,
        vouched: Iterable[Any] | Mapping[str, Any] = (),
        session_id: str | None = None,
        agent: str | None = None,
        framework: str | None = None,
    ) -> SessionScope:
        """A session for one conversation: ``with guard.session(user_request=prompt):`` (or ``async with``).

        ``user_request`` is the user's own text (trusted input); ``vouched`` are values the application
        vouches for (the user's account IBAN, their address book). Calls inside are recorded under
        the session's id; their results are indexed for provenance conditions. See docs/provenance.md.
        """
        opened = Session(user_request=user_request, vouched=vouched, session_id=session_id)
        recorder = SessionRecorder(self.audit, agent or self.agent, framework)
        return SessionScope(opened, on_start=recorder.started, on_end=recorder.ended)

    def open_session(
        self,
        *,
        user_request: str | None = None,
        vouched: Iterable[Any] | Mapping[str, Any] = (),
        session_id: str | None = None,
        agent: str | None = None,
        framework: str | None = None,
    ) -> Session:
        """A session that outlives one ``with`` block (an MCP connection): make it current with
        ``session.active()`` around each call, and end it with :meth:`close_session`."""
        opened = Session(user_request=user_request, vouched=vouched, session_id=session_id)
        SessionRecorder(self.audit, agent or self.agent, framework).started(opened)
        return opened

    def close_session(
        self, session: Session, *, agent: str | None = None, framework: str | None = None
    ) -> None:
        """End a session from :meth:`open_session` (records ``session.ended``); idempotent."""
        if not session.closed:
            session.closed = True
            SessionRecorder(self.audit, agent or self.agent, framework).ended(session)

    def call_session_id(self, explicit: str | None = None) -> str | None:
        """The id a call is recorded under: given, else the current session's, else the guard's own."""
        if explicit:
            return explicit
        current = current_session()
        return current.id if current is not None else self.session_id

    # -- registry -----------------------------------------------------------------------------
    def register(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        sandboxed: bool = False,
        description: str | None = None,
        args_model: type[BaseModel] | None = None,
    ) -> None:
        """Add a tool under ``name`` (case-insensitive ASCII). Its signature becomes its argument schema.

        ``args_model`` replaces the signature-derived schema, for tools whose schema is data (an MCP
        tool's JSON schema, a LangChain ``args_schema``); the tool is called with the validated fields.
        """
        self._registry.add(name, fn, sandboxed=sandboxed, description=description, args_model=args_model)

    @property
    def tools(self) -> tuple[str, ...]:
        return self._registry.names

    def tool(
        self, fn: Callable[..., Any] | None = None, /, *, name: str | None = None, sandboxed: bool = False
    ) -> Any:
        """Decorator: register ``fn`` and return a guarded wrapper of the same kind (sync or async)."""

        def decorate(f: F) -> F:
            tool_name = name or f.__name__
            self.register(tool_name, f, sandboxed=sandboxed)
            return self._wrapper(tool_name, f)

        return decorate(fn) if fn is not None else decorate

    def wrap(self, tools: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        """Register each ``name: callable`` and return ``name: guarded wrapper``."""
        out: dict[str, Callable[..., Any]] = {}
        for tool_name, fn in tools.items():
            self.register(tool_name, fn)
            out[tool_name] = self._wrapper(tool_name, fn)
        return out

    def register_builtins(self, *, sandbox: SandboxBackend | None = None) -> None:
        """Register fs.read, fs.write, fs.list, http.get, python.exec and shell.run.

        ``python.exec`` and ``shell.run`` run code in ``sandbox`` (e.g. ``agentguard.testing.FakeSandbox``);
        by default in the Docker sandbox, which the guard starts on first use and closes with itself.
        """
        from agentguard.tools import builtin_tools

        for spec in builtin_tools(self.settings, sandbox=sandbox):
            self.register(spec.name, spec.fn, sandboxed=spec.sandboxed, description=spec.description)
            if spec.close is not None and spec.close not in self._closers:
                self._closers.append(spec.close)

    def _wrapper(self, name: str, fn: F) -> F:
        # ``wraps`` advertises fn's signature, so the wrapper accepts what it says: positional too.
        signature = inspect.signature(fn)

        def bound(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            try:
                return bind_arguments(signature, name, args, kwargs)
            except InvalidArguments as exc:
                self.reject(name, None, exc, positional=len(args), keywords=sorted(kwargs))
                raise

        if inspect.iscoroutinefunction(fn):

            @wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(name, bound(args, kwargs))

            return cast(F, async_wrapper)

        @wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, bound(args, kwargs))

        return cast(F, sync_wrapper)

    # -- the pipeline -------------------------------------------------------------------------
    def decide(self, tool: str, arguments: Mapping[str, Any], *, agent: str | None = None) -> Decision:
        """Dry run: what the policy would say, without approval, execution or an audit record."""
        call = ToolCall(
            agent=agent or self.agent, tool=tool, arguments=dict(arguments), session=self.call_session_id()
        )
        return self._policy_decide(call)

    def call(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
        invoke: Callable[..., Any] | None = None,
    ) -> Any:
        """Run one tool call through the pipeline; returns the tool's result or raises.

        ``invoke`` replaces the registered callable for this one call (an adapter's way to say how
        the call really runs, e.g. forwarded to an MCP server with the request it came in). It gets
        the decided arguments (after any approver's edit) as keyword arguments, with
        ``current_call()`` set and its failures audited like the tool's own.
        """
        entry, call = self._receive(tool, arguments or {}, agent, session, framework)
        decision = self._decide(call)
        if decision.effect is Effect.ASK:
            entry, call, decision = self._resolve_approval(entry, call, decision, self._ask(call, decision))
        kwargs = self._start(entry, call, decision)
        fn = invoke or entry.fn
        with self._running(call, decision) as started:
            value = fn(**kwargs)
            if inspect.isawaitable(value):
                value = _run_coroutine(value)
        return self._finished(call, value, started)

    async def acall(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
        invoke: Callable[..., Any] | None = None,
    ) -> Any:
        """The async form of :meth:`call`: approval waits off the event loop; sync tools (and a sync
        ``invoke``) run in a thread."""
        entry, call = self._receive(tool, arguments or {}, agent, session, framework)
        decision = self._decide(call)
        if decision.effect is Effect.ASK:
            result = await self._aask(call, decision)
            entry, call, decision = self._resolve_approval(entry, call, decision, result)
        kwargs = self._start(entry, call, decision)
        fn = invoke or entry.fn
        is_async = entry.is_async if invoke is None else inspect.iscoroutinefunction(invoke)
        with self._running(call, decision) as started:
            value = fn(**kwargs) if is_async else await asyncio.to_thread(fn, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        return self._finished(call, value, started)

    def reject(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        error: AgentGuardError,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
        **received: Any,
    ) -> None:
        """Audit a call refused before it could enter the pipeline (unparsable or oversized input, a
        tool that cannot be guarded): ``call.received`` then ``call.rejected``, as for a call the guard
        itself rejects. ``arguments`` is ``None`` when they cannot be logged; ``received`` holds what can
        be said about them instead (e.g. ``argument_bytes``). Raises ``AuditError`` if a record fails."""
        call = ToolCall.model_construct(
            id=new_id(),
            agent=agent or self.agent,
            tool=tool,
            arguments=dict(arguments) if arguments is not None else {},
            session=self.call_session_id(session),
            framework=framework,
            time=datetime.now(UTC),
        )
        self._record(
            "call.received", call, arguments=dict(arguments) if arguments is not None else None, **received
        )
        self._record("call.rejected", call, error=error.to_dict())

    @contextmanager
    def _running(self, call: ToolCall, decision: Decision) -> Iterator[float]:
        """The execution bracket: ``current_call()`` is set inside; any exception is audited and
        surfaces as a typed error (``ToolFailed``), interrupts as themselves."""
        started = time.perf_counter()
        with serving(CallContext(call, decision, self.settings, self)):
            try:
                yield started
            except BaseException as exc:
                error = self._failed(call, exc, started)
                if error is exc:
                    raise
                raise error from exc

    # -- steps ----------------------------------------------------------------------------------
    def _record(self, event: str, call: ToolCall, **fields: Any) -> None:
        try:
            self.audit.record(
                event,
                call_id=call.id,
                agent=call.agent,
                tool=call.tool,
                session=call.session,
                framework=call.framework,
                **fields,
            )
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError(f"audit log write failed: {exc}", event=event, call_id=call.id) from exc

    def _receive(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        agent: str | None,
        session: str | None,
        framework: str | None,
    ) -> tuple[RegisteredTool, ToolCall]:
        fields: dict[str, Any] = {
            "id": new_id(),
            "agent": agent or self.agent,
            "tool": tool,
            "arguments": dict(arguments),
            "session": self.call_session_id(session),
            "framework": framework,
            "time": datetime.now(UTC),
        }
        # Every field is built right here from checked types, so the model's validation (a sixth of a
        # guarded call's cost) is only needed when a caller passed something odd.
        plain = all(isinstance(fields[k], str | None) for k in ("agent", "tool", "session", "framework"))
        try:
            raw = ToolCall.model_construct(**fields) if plain else ToolCall.model_validate(fields)
        except ValidationError as exc:
            raise InvalidArguments(f"malformed call: {exc.errors()[0]['msg']}", tool=str(tool)) from None
        self._record("call.received", raw, arguments=raw.arguments)
        try:
            entry = self._registry.lookup(tool)
            _, json_args = entry.validate(arguments)
        except (UnknownTool, InvalidArguments) as exc:
            self._record("call.rejected", raw, error=exc.to_dict())
            raise
        dropped = dropped_keys(raw.arguments, json_args)
        if dropped:  # keys the tool's schema does not declare: never decided on, never forwarded
            self._record("call.arguments_dropped", raw, dropped=dropped)
        return entry, ToolCall.model_construct(**{**fields, "tool": entry.name, "arguments": json_args})

    def _policy_decide(self, call: ToolCall) -> Decision:
        try:
            if isinstance(self.policy, RefreshablePolicy):
                self.policy.refresh_due()
            return self.policy.decide(call)
        except Exception as exc:  # noqa: BLE001 - fail closed on any policy failure
            return Decision(effect=Effect.DENY, reason=f"policy evaluation failed: {exc}")

    def _decide(self, call: ToolCall, *, edited: bool = False) -> Decision:
        """Decide ``call``, audit the decision, raise ``PolicyDenied`` on deny.

        An approver's edit is decided again (an edit cannot override a deny rule); that re-decision is
        recorded only when it denies, so the call's recorded effect stays the one the approver answered.
        """
        decision = self._policy_decide(call)
        evidence: list[str] = []
        if decision.effect is not Effect.ALLOW and current_session() is not None:
            # Where the values came from, for the record and the approver: gathered only for the
            # calls that are stopped, by deciding once more (the same rules on the same session).
            with collecting_evidence() as evidence:
                self._policy_decide(call)
            if evidence and decision.effect is Effect.ASK:  # the person asked sees where values came from
                more = f"; and {len(evidence) - 5} more" if len(evidence) > 5 else ""
                decision = decision.model_copy(
                    update={"reason": f"{decision.reason}; evidence: {'; '.join(evidence[:5])}{more}"}
                )
        if not edited or decision.effect is Effect.DENY:
            self._record(
                "policy.decided",
                call,
                effect=decision.effect.value,
                rule=decision.rule_id,
                rule_text=decision.rule.text if decision.rule else None,
                reason=decision.reason,
                sandbox_profile=decision.sandbox_profile,
                **({"resolved": decision.resolved} if decision.resolved else {}),  # addresses ip() checked
                **_resolved_field(call, decision),
                **({"evidence": evidence} if evidence else {}),
            )
        if decision.effect is Effect.DENY:
            raise PolicyDenied(
                f"{call.tool}{' (edited)' if edited else ''} denied: {decision.reason}",
                tool=call.tool,
                rule=decision.rule_id,
                reason=decision.reason,
                call_id=call.id,
            )
        return decision

    def _approval_request(self, call: ToolCall, decision: Decision) -> ApprovalRequest:
        timeout = decision.approval_timeout_s or self.settings.approval.timeout_s
        self._record(
            "approval.requested", call, timeout_s=timeout, rule=decision.rule_id, reason=decision.reason
        )
        return ApprovalRequest(call=call, decision=decision, timeout_s=timeout)

    @staticmethod
    def _approval_outcome(result: ApprovalResult | BaseException, started: float) -> ApprovalResult:
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

    def _ask(self, call: ToolCall, decision: Decision) -> ApprovalResult:
        request = self._approval_request(call, decision)
        started = time.monotonic()
        try:
            answer: ApprovalResult | BaseException = self.approver.request(request)
        except Exception as exc:  # noqa: BLE001 - a broken channel denies
            answer = exc
        return self._approval_outcome(answer, started)

    async def _aask(self, call: ToolCall, decision: Decision) -> ApprovalResult:
        """Await approvers that can wait without a thread (``arequest``); others wait in a worker thread."""
        request = self._approval_request(call, decision)
        started = time.monotonic()
        approver = self.approver
        try:
            if isinstance(approver, AsyncApprover):
                answer: ApprovalResult | BaseException = await approver.arequest(request)
            else:
                answer = await asyncio.to_thread(approver.request, request)
        except Exception as exc:  # noqa: BLE001 - a broken channel denies
            answer = exc
        return self._approval_outcome(answer, started)

    def _resolve_approval(
        self, entry: RegisteredTool, call: ToolCall, decision: Decision, result: ApprovalResult
    ) -> tuple[RegisteredTool, ToolCall, Decision]:
        edited = result.approved and result.edited_arguments is not None
        new_call = call
        failure: AgentGuardError | None = None
        if edited:
            try:
                _, json_args = entry.validate(result.edited_arguments or {})
                new_call = call.model_copy(update={"arguments": json_args})
            except InvalidArguments as exc:
                failure = exc
        self._record(
            "approval.resolved",
            call,
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
        if result.status is ApprovalStatus.TIMEOUT and self.settings.approval.on_timeout is not Effect.ALLOW:
            waited_for = decision.approval_timeout_s or self.settings.approval.timeout_s
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
            redecision = self._decide(new_call, edited=True)
            decision = decision.model_copy(
                update={"sandbox_profile": redecision.sandbox_profile, "arguments": redecision.arguments}
            )
        else:
            self._recheck(call, decision)
        return entry, new_call, decision

    def _recheck(self, call: ToolCall, approved: Decision) -> None:
        """Decide the approved call again just before it runs: files (and the policy) may have changed
        during the wait. A deny, or resolved arguments other than the approved ones (the path now
        names another file), refuses the call and audits ``execution.refused`` with both verdicts."""
        current = self._policy_decide(call)
        if current.effect is not Effect.DENY and current.arguments == approved.arguments:
            return
        verdicts = {"approved": _verdict(call, approved), "current": _verdict(call, current)}
        what = "is now denied" if current.effect is Effect.DENY else "now resolves to other arguments"
        error = VerdictChanged(
            f"{call.tool}: the approved call {what}: {current.reason}",
            tool=call.tool,
            call_id=call.id,
            **verdicts,
        )
        self._record("execution.refused", call, error=error.to_dict(), **verdicts)
        raise error

    def _start(self, entry: RegisteredTool, call: ToolCall, decision: Decision) -> dict[str, Any]:
        # From the decided (JSON) arguments, not the caller's objects: the tool runs what was decided,
        # with the resolved paths the rules saw (see ``Decision.arguments``).
        kwargs = entry.kwargs(decided_arguments(call, decision))
        fields: dict[str, Any] = {}
        if entry.sandboxed:
            name = decision.sandbox_profile or self.settings.sandbox.default_profile
            fields["sandbox_profile"] = name
            profile = self.settings.sandbox.profiles.get(name)
            if profile is not None:
                fields["loosenings"] = profile.loosenings()
        self._record("execution.started", call, **fields)
        return kwargs

    def _finished(self, call: ToolCall, value: Any, started: float) -> Any:
        duration_ms = (time.perf_counter() - started) * 1000
        value, fields = process_result(
            self.policy,
            current_session(),
            tool=call.tool,
            call_id=call.id,
            arguments=call.arguments,
            value=value,
        )
        if "redacted" in fields:
            self._record("result.redacted", call, kinds=fields["redacted"])
        self._record(
            "execution.finished", call, duration_ms=round(duration_ms, 3), result=_summary(value), **fields
        )
        return value

    def _failed(self, call: ToolCall, exc: BaseException, started: float) -> BaseException:
        duration = round((time.perf_counter() - started) * 1000, 3)
        if isinstance(exc, AgentGuardError):
            error = exc
        elif isinstance(exc, Exception):
            error = ToolFailed(
                f"{call.tool} failed: {type(exc).__name__}: {exc}",
                tool=call.tool,
                exception=type(exc).__name__,
            )
        else:
            error = ToolFailed(
                f"{call.tool} interrupted: {type(exc).__name__}", tool=call.tool, exception=type(exc).__name__
            )
        try:
            self._record("execution.failed", call, duration_ms=duration, error=error.to_dict())
        except AuditError as audit_exc:
            error.data["audit_error"] = str(audit_exc)
        return error if isinstance(exc, Exception) else exc


def dropped_keys(given: Any, kept: Any, prefix: str = "") -> list[str]:
    """Dotted names of the object keys in ``given`` that validation left out of ``kept``."""
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            n
            for i, (g, k) in enumerate(zip(given, kept, strict=True))
            for n in dropped_keys(g, k, f"{prefix}{i}.")
        ]
    if not isinstance(given, Mapping) or not isinstance(kept, Mapping):
        return []
    out: list[str] = []
    for key, value in given.items():
        name = f"{prefix}{key}"
        if key not in kept:
            out.append(name)
        else:
            out.extend(dropped_keys(value, kept[key], name + "."))
    return out


def decided_arguments(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """What the tool runs with: the policy's resolved arguments when it resolved any, else the call's."""
    return call.arguments if decision.arguments is None else decision.arguments


def _resolved(call: ToolCall, decision: Decision) -> dict[str, Any] | None:
    """The top-level arguments deciding changed (resolved paths), with their new values."""
    if decision.arguments is None:
        return None
    return {k: v for k, v in decision.arguments.items() if call.arguments.get(k) != v}


def _verdict(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """A decision as an audit field: effect, rule, reason and the resolved arguments it decided on."""
    return {
        "effect": decision.effect.value,
        "rule": decision.rule_id,
        "reason": decision.reason,
        "arguments": _resolved(call, decision),
    }


def _resolved_field(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """The ``resolved_arguments`` audit field, present only when deciding changed an argument."""
    resolved = _resolved(call, decision)
    return {} if resolved is None else {"resolved_arguments": resolved}


def _run_coroutine(coro: Awaitable[Any]) -> Any:
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

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
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentguard.approval.scripted import DenyApprover
from agentguard.errors import (
    AgentGuardError,
    ApprovalDenied,
    ApprovalTimeout,
    AuditError,
    InvalidArguments,
    PolicyDenied,
    ToolFailed,
    UnknownTool,
)
from agentguard.models import (
    ApprovalRequest,
    ApprovalResult,
    ApprovalStatus,
    Decision,
    Effect,
    ToolCall,
    canonical_tool_name,
    new_id,
)
from agentguard.pipeline import Approver, AuditSink, PolicyDecider
from agentguard.settings import Settings, load_settings

__all__ = ["CallContext", "Guard", "current_call"]

F = TypeVar("F", bound=Callable[..., Any])
_SUMMARY_CHARS = 500


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a running tool may know about the call it serves (e.g. the sandbox profile)."""

    call: ToolCall
    decision: Decision
    settings: Settings


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("agentguard_call", default=None)


def current_call() -> CallContext | None:
    """The call being executed in this context, or None outside a guarded call."""
    return _CURRENT.get()


@dataclass(frozen=True, slots=True)
class _Tool:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    model: type[BaseModel]
    sandboxed: bool
    description: str

    def validate(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(values to call the tool with, JSON-able values for the policy and the log)."""
        parsed = self._parse(arguments)
        return self._values(parsed), parsed.model_dump(mode="json")

    def kwargs(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The values to call the tool with (``validate`` without the JSON form)."""
        return self._values(self._parse(arguments))

    @staticmethod
    def _values(parsed: BaseModel) -> dict[str, Any]:
        values = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        values.update(parsed.model_extra or {})
        return values

    def _parse(self, arguments: Mapping[str, Any]) -> BaseModel:
        try:
            return self.model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
                for e in exc.errors()
            ]
            text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise InvalidArguments(
                f"invalid arguments for {self.name}: {text}", tool=self.name, problems=problems
            ) from None


def _arguments_model(name: str, fn: Callable[..., Any]) -> type[BaseModel]:
    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    open_ended = False
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to Any
        hints = {}
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {name!r}: parameter {param.name!r} must be passable by keyword")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    model_name = "Args_" + "".join(c if c.isalnum() else "_" for c in name)
    config = ConfigDict(extra="allow" if open_ended else "forbid", arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(model_name, __config__=config, **fields)
    return model


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
        self.policy = self._make_policy(policy)
        self.audit = self._make_audit(audit)
        self.approver = approver if approver is not None else self._default_approver()
        self.agent = agent or self.settings.agent
        self.session = session
        self._tools: dict[str, _Tool] = {}
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # -- construction -------------------------------------------------------------------------
    def _make_policy(self, policy: PolicyDecider | Path | str | None) -> PolicyDecider:
        if policy is not None and not isinstance(policy, Path | str):
            return policy
        from agentguard.policy import PolicyEngine

        directory = Path(policy) if policy is not None else self.settings.resolved_policy_dir()
        engine: PolicyDecider = PolicyEngine.load(
            directory,
            workspace=self.settings.workspace,
            default_effect=self.settings.default_effect,
            extra_files=[self.settings.home / "grants.csv"],
            state_dir=self.settings.home,
        )
        return engine

    def _make_audit(self, audit: AuditSink | Path | str | None) -> AuditSink:
        if audit is not None and not isinstance(audit, Path | str):
            return audit
        from agentguard.audit import AuditLog

        path = Path(audit) if audit is not None else self.settings.audit_path
        return AuditLog(
            path, durability=self.settings.audit.durability, batch_size=self.settings.audit.batch_size
        )

    @staticmethod
    def _default_approver() -> Approver:
        if sys.stdin is not None and sys.stdin.isatty():
            from agentguard.approval.terminal import TerminalApprover

            return TerminalApprover()
        return DenyApprover("no approver configured and stdin is not a TTY: ask means deny")

    def close(self) -> None:
        """Release what the guard's tools hold (sandbox containers), then flush and close the audit log."""
        closers, self._closers = self._closers, []
        for close in closers:
            close()
        closer = getattr(self.audit, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        canonical = canonical_tool_name(name)
        tool = _Tool(
            name=canonical,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            model=args_model or _arguments_model(canonical, fn),
            sandboxed=sandboxed,
            description=description or inspect.getdoc(fn) or "",
        )
        with self._lock:
            if canonical in self._tools:
                raise ValueError(f"tool {canonical!r} is already registered")
            self._tools[canonical] = tool

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def argument_schema(self, name: str) -> dict[str, Any]:
        """The JSON schema of a registered tool's arguments (for frameworks that need one)."""
        return self._lookup(name).model.model_json_schema()

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

    def register_builtins(self) -> None:
        """Register fs.read, fs.write, fs.list, http.get, python.exec and shell.run."""
        from agentguard.tools import builtin_tools

        for spec in builtin_tools(self.settings):
            self.register(spec.name, spec.fn, sandboxed=spec.sandboxed, description=spec.description)
            if spec.close is not None and spec.close not in self._closers:
                self._closers.append(spec.close)

    def _wrapper(self, name: str, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @wraps(fn)
            async def async_wrapper(**kwargs: Any) -> Any:
                return await self.acall(name, kwargs)

            return cast(F, async_wrapper)

        @wraps(fn)
        def sync_wrapper(**kwargs: Any) -> Any:
            return self.call(name, kwargs)

        return cast(F, sync_wrapper)

    def _lookup(self, name: str) -> _Tool:
        try:
            canonical = canonical_tool_name(name)
        except ValueError as exc:
            raise UnknownTool(str(exc), tool=name) from None
        tool = self._tools.get(canonical)
        if tool is None:
            raise UnknownTool(f"unknown tool {name!r}", tool=name, known=sorted(self._tools))
        return tool

    # -- the pipeline -------------------------------------------------------------------------
    def decide(self, tool: str, arguments: Mapping[str, Any], *, agent: str | None = None) -> Decision:
        """Dry run: what the policy would say, without approval, execution or an audit record."""
        call = ToolCall(agent=agent or self.agent, tool=tool, arguments=dict(arguments), session=self.session)
        return self._policy_decide(call)

    def call(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
    ) -> Any:
        """Run one tool call through the pipeline; returns the tool's result or raises."""
        entry, call = self._receive(tool, arguments or {}, agent, session, framework)
        decision = self._decide(call)
        if decision.effect is Effect.ASK:
            entry, call, decision = self._resolve_approval(entry, call, decision, self._ask(call, decision))
        kwargs = self._start(entry, call, decision)
        with self._running(call, decision) as started:
            value = _run_coroutine(entry.fn(**kwargs)) if entry.is_async else entry.fn(**kwargs)
        return self._finished(call, value, started)

    async def acall(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
    ) -> Any:
        """The async form of :meth:`call`: approval waits off the event loop; sync tools run in a thread."""
        entry, call = self._receive(tool, arguments or {}, agent, session, framework)
        decision = self._decide(call)
        if decision.effect is Effect.ASK:
            result = await self._aask(call, decision)
            entry, call, decision = self._resolve_approval(entry, call, decision, result)
        kwargs = self._start(entry, call, decision)
        with self._running(call, decision) as started:
            if entry.is_async:
                value = await entry.fn(**kwargs)
            else:
                value = await asyncio.to_thread(entry.fn, **kwargs)
        return self._finished(call, value, started)

    @contextmanager
    def _running(self, call: ToolCall, decision: Decision) -> Iterator[float]:
        """The execution bracket: ``current_call()`` is set inside; any exception is audited and
        surfaces as a typed error (``ToolFailed``), interrupts as themselves."""
        started = time.perf_counter()
        token = _CURRENT.set(CallContext(call, decision, self.settings))
        try:
            yield started
        except BaseException as exc:
            error = self._failed(call, exc, started)
            if error is exc:
                raise
            raise error from exc
        finally:
            _CURRENT.reset(token)

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
    ) -> tuple[_Tool, ToolCall]:
        fields: dict[str, Any] = {
            "id": new_id(),
            "agent": agent or self.agent,
            "tool": tool,
            "arguments": dict(arguments),
            "session": session or self.session,
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
            entry = self._lookup(tool)
            _, json_args = entry.validate(arguments)
        except (UnknownTool, InvalidArguments) as exc:
            self._record("call.rejected", raw, error=exc.to_dict())
            raise
        return entry, ToolCall.model_construct(**{**fields, "tool": entry.name, "arguments": json_args})

    def _policy_decide(self, call: ToolCall) -> Decision:
        try:
            refresh = getattr(self.policy, "refresh_due", None) or getattr(self.policy, "refresh", None)
            if callable(refresh):
                refresh()
            return self.policy.decide(call)
        except Exception as exc:  # noqa: BLE001 - fail closed on any policy failure
            return Decision(effect=Effect.DENY, reason=f"policy evaluation failed: {exc}")

    def _decide(self, call: ToolCall) -> Decision:
        decision = self._policy_decide(call)
        self._record(
            "policy.decided",
            call,
            effect=decision.effect.value,
            rule=decision.rule_id,
            rule_text=decision.rule.text if decision.rule else None,
            reason=decision.reason,
            sandbox_profile=decision.sandbox_profile,
        )
        if decision.effect is Effect.DENY:
            raise PolicyDenied(
                f"{call.tool} denied: {decision.reason}",
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
        waiter = getattr(self.approver, "arequest", None)
        try:
            if waiter is not None and inspect.iscoroutinefunction(waiter):
                answer: ApprovalResult | BaseException = await waiter(request)
            else:
                answer = await asyncio.to_thread(self.approver.request, request)
        except Exception as exc:  # noqa: BLE001 - a broken channel denies
            answer = exc
        return self._approval_outcome(answer, started)

    def _resolve_approval(
        self, entry: _Tool, call: ToolCall, decision: Decision, result: ApprovalResult
    ) -> tuple[_Tool, ToolCall, Decision]:
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
            redecision = self._policy_decide(new_call)
            if redecision.effect is Effect.DENY:
                self._record(
                    "policy.decided",
                    new_call,
                    effect="deny",
                    rule=redecision.rule_id,
                    rule_text=redecision.rule.text if redecision.rule else None,
                    reason=redecision.reason,
                    sandbox_profile=redecision.sandbox_profile,
                )
                raise PolicyDenied(
                    f"{call.tool} (edited) denied: {redecision.reason}",
                    tool=call.tool,
                    rule=redecision.rule_id,
                    reason=redecision.reason,
                    call_id=call.id,
                )
            decision = decision.model_copy(update={"sandbox_profile": redecision.sandbox_profile})
        return entry, new_call, decision

    def _start(self, entry: _Tool, call: ToolCall, decision: Decision) -> dict[str, Any]:
        # From the decided (JSON) arguments, not the caller's objects: the tool runs what was decided.
        kwargs = entry.kwargs(call.arguments)
        fields: dict[str, Any] = {}
        if entry.sandboxed:
            name = decision.sandbox_profile or self.settings.sandbox.default_profile
            fields["sandbox_profile"] = name
            profile = self.settings.sandbox.profiles.get(name)
            loosen = getattr(profile, "loosenings", None)
            if callable(loosen):
                fields["loosenings"] = loosen()
        self._record("execution.started", call, **fields)
        return kwargs

    def _finished(self, call: ToolCall, value: Any, started: float) -> Any:
        duration_ms = (time.perf_counter() - started) * 1000
        self._record("execution.finished", call, duration_ms=round(duration_ms, 3), result=_summary(value))
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


def _run_coroutine(coro: Awaitable[Any]) -> Any:
    """Run an async tool from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(cast(Any, coro))
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(cast(Any, coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="agentguard-async-tool")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]

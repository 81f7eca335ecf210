"""The one place that knows the order of the steps.

receive (validate) -> decide (policy) -> approve (when ask) -> execute -> audit each step.
Anything that goes wrong before the tool runs means the tool does not run (fail closed), and
the reason is in the audit log. The steps themselves live in ``agentguard._guard``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agentguard._guard import approve, execute
from agentguard._guard.decide import decide, policy_decide
from agentguard._guard.receive import guarded_wrapper, receive, record_rejected
from agentguard._guard.sessions import GuardSessions
from agentguard.context import CallContext, current_call
from agentguard.errors import AgentGuardError
from agentguard.models import Decision, Effect, ToolCall
from agentguard.pipeline import Approver, AuditSink, Closeable, PolicyDecider
from agentguard.registry import RegisteredTool, ToolRegistry
from agentguard.sandbox_api import SandboxBackend
from agentguard.settings import Settings, load_settings

__all__ = ["CallContext", "Guard", "current_call"]  # the context names stay importable from here

F = TypeVar("F", bound=Callable[..., Any])
# Results no tool's coroutine can be: ``inspect.isawaitable`` is skipped for them.
_NEVER_AWAITABLE = frozenset({str, int, float, bool, type(None), bytes, dict, list, tuple})


class Guard(GuardSessions):
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
        # A log file handed in is the guard's state as the settings' one is: the policy protects it.
        self._audit_file = Path(audit).absolute() if isinstance(audit, Path | str) else None
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
    def _with_audit_file(self) -> Settings:
        """The settings with the log this guard writes as ``[audit] file``: the policy ({state}) and a
        rw sandbox (``guard_paths``) keep it from the agent wherever it was handed in."""
        if self._audit_file is None:
            return self.settings
        audit = self.settings.audit.model_copy(update={"file": str(self._audit_file)})
        return self.settings.model_copy(update={"audit": audit})

    def _make_policy(self, policy: PolicyDecider | Path | str | None) -> PolicyDecider:
        if policy is not None and not isinstance(policy, Path | str):
            return policy
        from agentguard.approval import settings_grant_source
        from agentguard.policy import PolicyEngine, policy_from_settings

        settings = self._with_audit_file()
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

        for spec in builtin_tools(self._with_audit_file(), sandbox=sandbox):
            self.register(spec.name, spec.fn, sandboxed=spec.sandboxed, description=spec.description)
            if spec.close is not None and spec.close not in self._closers:
                self._closers.append(spec.close)

    # -- the pipeline -------------------------------------------------------------------------
    def decide(self, tool: str, arguments: Mapping[str, Any], *, agent: str | None = None) -> Decision:
        """Dry run: what the policy would say, without approval, execution or an audit record."""
        call = ToolCall(
            agent=agent or self.agent, tool=tool, arguments=dict(arguments), session=self.call_session_id()
        )
        return policy_decide(self.policy, call)

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
        entry, call, decision, values = self._received(tool, arguments, agent, session, framework)
        if decision.effect is Effect.ASK:
            call, decision = approve.resolve(self, entry, call, decision, approve.ask(self, call, decision))
            values = None
        kwargs = execute.start(self, entry, call, decision, values)
        fn = invoke or entry.fn
        with execute.running(self, call, decision, caller=self) as started:
            value = fn(**kwargs)
            if type(value) not in _NEVER_AWAITABLE and inspect.isawaitable(value):
                value = execute.run_coroutine(value)
        return execute.finished(self, call, value, started)

    async def acall(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
        invoke: Callable[..., Any] | None = None,
        deliver: Callable[[Any], None] | None = None,
        summarize: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The async form of :meth:`call`: approval waits off the event loop; sync tools (and a sync
        ``invoke``) run in a thread.

        ``deliver`` (sync) gets the result the caller gets as soon as it is known: redacted, before
        the session reads and records it (JSON data; anything else is read first, and withheld if it
        cannot be) and before ``execution.finished`` (an adapter's way to answer first, e.g. the MCP
        proxy writing the answer line). Reading and recording follow at once, without yielding to the
        event loop, so no later call is decided before them; the result is returned as well.
        ``summarize`` gives the form of the result the session reads and the
        ``execution.finished`` record sums up (an adapter's wire form: the same provenance and the
        same record whichever way the same result came); it must not raise."""
        entry, call, decision, values = self._received(tool, arguments, agent, session, framework)
        if decision.effect is Effect.ASK:
            result = await approve.aask(self, call, decision)
            call, decision = approve.resolve(self, entry, call, decision, result)
            values = None
        kwargs = execute.start(self, entry, call, decision, values)
        fn = invoke or entry.fn
        is_async = entry.is_async if invoke is None else inspect.iscoroutinefunction(invoke)
        with execute.running(self, call, decision, caller=self) as started:
            value = fn(**kwargs) if is_async else await asyncio.to_thread(fn, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        return execute.finished(self, call, value, started, deliver, summarize)

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
        record_rejected(
            self.audit,
            tool,
            arguments,
            error,
            agent=agent or self.agent,
            session=self.call_session_id(session),
            framework=framework,
            received=received,
        )

    # -- the steps' order, shared by call and acall ---------------------------------------------
    def _received(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        agent: str | None,
        session: str | None,
        framework: str | None,
    ) -> tuple[RegisteredTool, ToolCall, Decision, dict[str, Any] | None]:
        """Receive and decide: the tool, the call, its decision (``allow`` or ``ask``) and the values
        to run the tool with if validation gave them already (``receive``), or raise."""
        entry, call, values = receive(
            self.audit,
            self._registry,
            tool,
            arguments or {},
            agent=agent or self.agent,
            session=self.call_session_id(session),
            framework=framework,
        )
        return entry, call, decide(self.policy, self.audit, call), values

    def _wrapper(self, name: str, fn: F) -> F:
        return guarded_wrapper(name, fn, call=self.call, acall=self.acall, reject=self.reject)

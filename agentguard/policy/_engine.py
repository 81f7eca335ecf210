"""The policy engine: load once, decide many times, reload when the files change."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentguard.errors import PolicyError
from agentguard.models import Decision, Effect, ToolCall, canonical_agent_name, canonical_tool_name
from agentguard.policy._conditions import (
    Condition,
    ConditionError,
    EvalContext,
    FactSource,
    compile_condition,
)
from agentguard.policy._index import MEMO_LIMIT, RuleIndex
from agentguard.policy._lint import lint_loaded
from agentguard.policy._loader import MODEL_FILE, LoadedPolicy, compile_env, load_policy, policy_files
from agentguard.policy._types import LintFinding, RoleLink, Rule

if TYPE_CHECKING:
    from agentguard.settings import Settings

__all__ = ["GRANTS_FILE", "PolicyEngine", "lint_policy"]

GRANTS_FILE = "grants.csv"
_VERB = {Effect.DENY: "denied by", Effect.ASK: "approval required by", Effect.ALLOW: "allowed by"}
_CACHE_LIMIT = 10_000
# How stale a hand-edited policy file may be; grants (extra files) are re-checked on every call.
POLICY_RECHECK_S = 0.5

_Stamp = tuple[tuple[int, int, int] | None, ...]


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass
class _State:
    """One loaded policy, immutable once built, plus its rule index (caches live and die with it)."""

    loaded: LoadedPolicy
    index: RuleIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = RuleIndex(self.loaded.rules, self.loaded.roles)

    def candidates(self, tool: str) -> tuple[Rule, ...]:
        """Rules whose tool pattern matches ``tool``, in file/line order."""
        return self.index.for_tool(tool)


def _winners(matched: Sequence[Rule]) -> list[Rule]:
    """The matched rules of the winning effect, in order: deny > granted allow > ask > allow."""
    denies = [r for r in matched if r.effect is Effect.DENY]
    if denies:
        return denies
    grants = [r for r in matched if r.grant and r.effect is Effect.ALLOW]
    if grants:
        return grants
    asks = [r for r in matched if r.effect is Effect.ASK]
    return asks or list(matched)


class PolicyEngine:
    """Decides tool calls from a Casbin model + policy CSVs. Build it with :meth:`load`.

    Decisions follow the model exactly: a rule matches when its subject is ``*`` or the agent (or a
    role the agent inherits through ``g`` lines), its tool glob matches the canonical tool name and
    its condition holds. ``deny`` beats ``ask`` beats ``allow``; no match gives ``default_effect``.
    Rules from ``extra_files`` are grants (an approver's "approve always"): an ``allow`` there
    settles an ``ask``, but nothing overrides a ``deny``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        workspace: Path,
        default_effect: Effect = Effect.DENY,
        extra_files: Sequence[Path] = (),
        facts: FactSource | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self._facts = facts
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._directory = Path(directory)
        self._workspace = Path(workspace)
        self._default = Effect(default_effect)
        self._extra = tuple(Path(p) for p in extra_files)
        self._cache: dict[str, Condition | ConditionError] = {}
        self._names: dict[str, str] = {}  # tool name as called -> canonical name
        self._agents: dict[str, str] = {}  # agent name as called -> canonical name
        self._env = compile_env(self._workspace, self._state_dir)
        self._state: _State | None = None
        self._failure: PolicyError | None = PolicyError("policy not loaded yet", file=str(self._directory))
        self._stamp: _Stamp = ()
        self._watched: tuple[str, ...] = ()  # what refresh() stats, as strings (it runs before every call)
        self._urgent: tuple[int, ...] = ()  # positions in _watched of the extra (grants) files
        self._checked_all = 0.0
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- building

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        workspace: Path,
        default_effect: Effect = Effect.DENY,
        extra_files: Sequence[Path] = (),
        facts: FactSource | None = None,
        state_dir: Path | None = None,
    ) -> PolicyEngine:
        """Load ``directory/model.conf`` and every ``*.csv`` in it (then ``extra_files``).

        ``facts`` answers ``known(arg, "fact")`` conditions; without it they are false.
        ``state_dir`` is what ``{state}`` in path patterns means (settings ``home``; default
        ``~/.agentguard``).
        Raises ``PolicyError`` naming file and line for any problem; never loads part of a policy.
        """
        engine = cls(
            directory,
            workspace=workspace,
            default_effect=default_effect,
            extra_files=extra_files,
            facts=facts,
            state_dir=state_dir,
        )
        engine.reload()
        return engine

    @classmethod
    def from_settings(cls, settings: Settings, *, include_grants: bool = True) -> PolicyEngine:
        """The engine the guard and the CLI use: the settings' policy dir plus ``<home>/grants.csv``."""
        extra = [settings.home / GRANTS_FILE] if include_grants else []
        return cls.load(
            settings.resolved_policy_dir(),
            workspace=settings.workspace,
            default_effect=settings.default_effect,
            extra_files=extra,
            state_dir=settings.home,
        )

    def _current_stamp(self) -> _Stamp:
        # The directory's own mtime changes when a file is added, removed or renamed into place,
        # so stat-ing the files found at the last load is enough; no directory listing per call.
        return tuple([_stat(path) for path in self._watched])

    def reload(self) -> None:
        """Read the files again. On failure the engine denies every call until a reload succeeds."""
        with self._lock:
            try:
                files = tuple(policy_files(self._directory, self._extra))
            except OSError:
                files = self._extra
            paths = (self._directory, self._directory / MODEL_FILE, *files)
            self._watched = tuple(str(path) for path in paths)
            extra = {str(path) for path in self._extra}
            self._urgent = tuple(i for i, path in enumerate(self._watched) if path in extra)
            self._checked_all = time.monotonic()
            self._stamp = self._current_stamp()  # taken first: a change during the read is seen next time
            loaded = load_policy(
                self._directory,
                workspace=self._workspace,
                extra_files=self._extra,
                cache=self._cache,
                state_dir=self._state_dir,
            )
            if loaded.errors:
                first = loaded.errors[0]
                more = len(loaded.errors) - 1
                suffix = (
                    f" (and {more} more problem{'s' if more > 1 else ''}; run 'agentguard policy check')"
                    if more
                    else ""
                )
                self._state = None
                self._failure = PolicyError(
                    first.message + suffix,
                    file=first.file,
                    line=first.line,
                    findings=[f.model_dump() for f in loaded.errors],
                )
                raise self._failure
            self._state = _State(loaded)
            self._failure = None

    def refresh(self) -> bool:
        """Reload if any policy file changed (stat: mtime, size, inode). True when something changed.

        A failed reload does not raise: the engine denies every call, naming the problem, until
        the files are valid again.
        """
        self._checked_all = time.monotonic()
        if self._current_stamp() == self._stamp:
            return False
        with contextlib.suppress(PolicyError):  # the failure is kept in load_error; decide denies
            self.reload()
        return True

    def refresh_due(self) -> bool:
        """The guard's per-call check: the grants files every time (a revoked grant stops applying
        at once), the policy directory at most every ``POLICY_RECHECK_S`` seconds."""
        if time.monotonic() - self._checked_all < POLICY_RECHECK_S and all(
            _stat(self._watched[i]) == self._stamp[i] for i in self._urgent
        ):
            return False
        return self.refresh()

    # ---------------------------------------------------------------- reading

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def workspace(self) -> Path:
        return self._workspace

    @property
    def default_effect(self) -> Effect:
        return self._default

    @property
    def extra_files(self) -> tuple[Path, ...]:
        return self._extra

    @property
    def facts(self) -> FactSource | None:
        """What ``known(...)`` conditions ask; ``None`` makes them false."""
        return self._facts

    @property
    def files(self) -> tuple[Path, ...]:
        """Every policy CSV the current rules came from, in load order."""
        return self._state.loaded.files if self._state is not None else ()

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._state.loaded.rules if self._state is not None else ()

    @property
    def role_links(self) -> tuple[RoleLink, ...]:
        return self._state.loaded.links if self._state is not None else ()

    @property
    def load_error(self) -> PolicyError | None:
        """Why the engine is failing closed, or ``None`` when a valid policy is loaded."""
        return self._failure

    def roles_of(self, agent: str) -> frozenset[str]:
        """The agent itself plus every role it inherits (what ``g(agent, role)`` is true for)."""
        state = self._state
        agent = agent.lower()
        if state is None:
            return frozenset({agent})
        return state.loaded.roles.get(agent) or frozenset({agent})

    def lint(self) -> list[LintFinding]:
        """Warnings for the loaded policy (errors would have stopped it from loading)."""
        if self._state is None:
            return []
        return lint_loaded(self._state.loaded)

    # ---------------------------------------------------------------- deciding

    def decide(self, call: ToolCall) -> Decision:
        """The verdict for one call. Never raises: any internal problem is a deny naming the cause."""
        try:
            return self._decide(call)
        except Exception as exc:  # noqa: BLE001 - fail closed: any internal problem is a deny
            return Decision(
                effect=Effect.DENY,
                reason=f"policy engine error, failing closed: {type(exc).__name__}: {exc}",
            )

    def _decide(self, call: ToolCall) -> Decision:
        state = self._state
        if state is None or self._failure is not None:
            cause = self._failure or "no policy loaded"
            return Decision(effect=Effect.DENY, reason=f"policy could not be loaded, failing closed: {cause}")
        tool = self._names.get(call.tool)
        if tool is None:
            try:
                tool = canonical_tool_name(call.tool)
            except ValueError as exc:
                return Decision(effect=Effect.DENY, reason=f"invalid tool name, denied: {exc}")
            if len(self._names) >= _CACHE_LIMIT:
                self._names.clear()
            self._names[call.tool] = tool
        agent = self._agents.get(call.agent)
        if agent is None:
            try:
                agent = canonical_agent_name(call.agent)
            except ValueError as exc:
                return Decision(effect=Effect.DENY, reason=f"invalid agent name, denied: {exc}")
            if len(self._agents) >= _CACHE_LIMIT:
                self._agents.clear()
            self._agents[call.agent] = agent
        plan = state.index.plan(agent, tool)
        ctx: EvalContext | None = None
        hits: list[int] = []
        for i, predicate in enumerate(plan.predicates):
            if predicate is not None:
                if ctx is None:
                    ctx = EvalContext(call.arguments, facts=self._facts)
                try:
                    held = predicate(ctx)
                except Exception as exc:  # noqa: BLE001 - fail closed, naming the rule
                    rule = plan.rules[i]
                    return Decision(
                        effect=Effect.DENY,
                        reason=f"error evaluating {rule.ref} ({rule.ref.text}), failing closed: "
                        f"{type(exc).__name__}: {exc}",
                        matched=tuple(plan.rules[j].ref for j in hits),
                    )
                if not held:
                    continue
            hits.append(i)
        key = tuple(hits)
        decision = plan.memo.get(key)
        if decision is None:
            decision = self._verdict([plan.rules[i] for i in hits])
            if len(plan.memo) < MEMO_LIMIT:
                plan.memo[key] = decision
        return decision

    def _verdict(self, matched: Sequence[Rule]) -> Decision:
        """The decision for a set of matched rules (a pure function of them: plans memoise it)."""
        if not matched:
            return Decision(
                effect=self._default,
                reason=f"no rule matched; default is {self._default.value}",
            )
        winners = _winners(matched)
        rule = winners[0]
        sandbox = next((r.sandbox_profile for r in winners if r.sandbox_profile), None)
        timeout = next((r.approval_timeout_s for r in winners if r.approval_timeout_s is not None), None)
        return Decision(
            effect=rule.effect,
            rule=rule.ref,
            reason=f"{_VERB[rule.effect]} {'grant ' if rule.grant else ''}{rule.ref} ({rule.ref.text})",
            matched=tuple(r.ref for r in matched),
            sandbox_profile=sandbox,
            approval_timeout_s=timeout,
        )

    # ---------------------------------------------------------------- stock casbin

    def casbin_functions(self) -> dict[str, Callable[..., bool]]:
        """Functions to ``add_function`` on a stock ``casbin.Enforcer`` so it evaluates these files too.

        The model's matcher calls ``argsMatch(r.args, p.cond)``; ``globMatch`` is casbin's own.
        """
        env = self._env
        cache = self._cache
        facts = self._facts

        def args_match(arguments: Any, cond: str) -> bool:
            compiled = cache.get(cond)
            if compiled is None:
                try:
                    compiled = compile_condition(cond, env)
                except ConditionError as exc:
                    compiled = exc
                cache[cond] = compiled
            if isinstance(compiled, ConditionError):
                raise PolicyError(f"condition {cond!r}: {compiled.message}")
            return compiled(EvalContext(arguments, facts=facts))

        return {"argsMatch": args_match}

    def __repr__(self) -> str:
        state = "failed" if self._failure else f"{len(self.rules)} rules"
        return f"PolicyEngine({str(self._directory)!r}, {state})"


def lint_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    state_dir: Path | None = None,
) -> list[LintFinding]:
    """Every error and warning in a policy directory, without raising (what ``policy check`` prints)."""
    loaded = load_policy(
        Path(directory), workspace=Path(workspace), extra_files=extra_files, state_dir=state_dir
    )
    findings = list(loaded.errors)
    if loaded.rules or loaded.links:
        findings.extend(lint_loaded(loaded))
    return findings

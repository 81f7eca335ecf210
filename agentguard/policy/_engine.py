"""The policy engine: load once, decide many times, reload when the files change."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentguard.errors import PolicyError
from agentguard.models import Decision, Effect, RuleRef, ToolCall, canonical_agent_name, canonical_tool_name
from agentguard.policy._addresses import RecordingResolver, Resolver, SystemResolver
from agentguard.policy._conditions import (
    Condition,
    ConditionError,
    EvalContext,
    FactSource,
    compile_condition,
    normalise_path,
)
from agentguard.policy._facts import FACTS_FILE, CombinedFacts
from agentguard.policy._index import MEMO_LIMIT, RuleIndex
from agentguard.policy._lint import lint_loaded
from agentguard.policy._loader import (
    MODEL_FILE,
    LoadedPolicy,
    compile_env,
    condition_cache_key,
    load_policy,
    paused_gc,
    policy_files,
)
from agentguard.policy._net_conditions import CannotTell
from agentguard.policy._outputs import OUTPUTS_FILE, OutputTreatment
from agentguard.policy._paths import detect_case_folding, resolve_path_arguments
from agentguard.policy._types import GrantSource, LintFinding, RoleLink, Rule
from agentguard.settings import GRANTS_FILE

if TYPE_CHECKING:
    from agentguard.settings import Settings

__all__ = ["GRANTS_FILE", "PolicyEngine", "lint_policy"]

_VERB = {Effect.DENY: "denied by", Effect.ASK: "approval required by", Effect.ALLOW: "allowed by"}
_CACHE_LIMIT = 10_000
VERDICT_CACHE_LIMIT = 50_000
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
    runtime_facts: FactSource | None = None
    index: RuleIndex = field(init=False)
    facts: FactSource | None = field(init=False)
    # matched rules (their load order; ~order when matched as "cannot tell") -> the Decision
    verdicts: dict[tuple[int, ...], Decision] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        with paused_gc():
            self.index = RuleIndex(self.loaded.rules, self.loaded.roles)
        static = self.loaded.facts
        self.facts = self.runtime_facts if static.empty else CombinedFacts(static, self.runtime_facts)

    def candidates(self, tool: str) -> tuple[Rule, ...]:
        """Rules whose tool pattern matches ``tool``, in file/line order."""
        return self.index.for_tool(tool)


def _canonical(cache: dict[str, str], name: str, canonical: Callable[[str], str]) -> str:
    """``canonical(name)``, remembered (bounded): names repeat on every call."""
    found = cache.get(name)
    if found is None:
        found = canonical(name)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[name] = found
    return found


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
    Rules from ``extra_files`` and from ``grants`` (the approval store, the store of record) are
    grants (an approver's "approve always"): an ``allow`` there settles an ``ask``, but nothing
    overrides a ``deny``. A grant line that does not load is skipped and reported (``grant_problems``,
    ``on_grant_problem``); it never stops the rest of the policy.
    """

    def __init__(
        self,
        directory: Path,
        *,
        workspace: Path,
        default_effect: Effect = Effect.DENY,
        extra_files: Sequence[Path] = (),
        facts: FactSource | None = None,
        resolver: Resolver | None = None,
        case_insensitive: bool | Literal["auto"] = "auto",
        grants: GrantSource | None = None,
        on_grant_problem: Callable[[LintFinding], None] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self._facts = facts
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._resolver: Resolver = resolver if resolver is not None else SystemResolver()
        self._grants = grants
        self._on_grant_problem = on_grant_problem
        self._grants_version: object = None
        self._grant_problems: tuple[LintFinding, ...] = ()
        self._directory = Path(directory)
        self._workspace = Path(workspace)
        self._default = Effect(default_effect)
        self._extra = tuple(Path(p) for p in extra_files)
        self._cache: dict[str, Condition | ConditionError] = {}
        self._names: dict[str, str] = {}  # tool name as called -> canonical name
        self._agents: dict[str, str] = {}  # agent name as called -> canonical name
        fold = (
            detect_case_folding(os.path.realpath(self._workspace))
            if case_insensitive == "auto"
            else bool(case_insensitive)
        )
        self._env = replace(compile_env(self._workspace, self._state_dir), case_insensitive=fold)
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
        resolver: Resolver | None = None,
        case_insensitive: bool | Literal["auto"] = "auto",
        grants: GrantSource | None = None,
        on_grant_problem: Callable[[LintFinding], None] | None = None,
        state_dir: Path | None = None,
    ) -> PolicyEngine:
        """Load ``directory/model.conf`` and every ``*.csv`` in it (then ``extra_files``, ``grants``).

        ``facts`` answers ``known(arg, "fact")`` conditions; without it they are false.
        ``resolver`` turns host names into addresses for ``ip()`` (default: the system's).
        ``case_insensitive``: whether ``path()`` folds case; ``"auto"`` probes the workspace.
        ``state_dir`` is what ``{state}`` in path patterns means (settings ``home``; default
        ``~/.agentguard``).
        Raises ``PolicyError`` naming file and line for any problem in the policy itself; never loads
        part of a policy. Grant lines that do not load are skipped and reported instead.
        """
        engine = cls(
            directory,
            workspace=workspace,
            default_effect=default_effect,
            extra_files=extra_files,
            facts=facts,
            resolver=resolver,
            case_insensitive=case_insensitive,
            grants=grants,
            on_grant_problem=on_grant_problem,
            state_dir=state_dir,
        )
        engine.reload()
        return engine

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        grants: GrantSource | None = None,
        directory: Path | None = None,
        on_grant_problem: Callable[[LintFinding], None] | None = None,
    ) -> PolicyEngine:
        """The engine the guard and the CLI use: the settings' policy dir, plus ``grants`` (the approval
        store's ``grant_source(settings.home)``, read from the store itself, not from ``grants.csv``;
        the caller composes it, since the policy stage does not import the approval stage)."""
        return cls.load(
            directory if directory is not None else settings.resolved_policy_dir(),
            workspace=settings.workspace,
            default_effect=settings.default_effect,
            case_insensitive=settings.policy.case_insensitive_paths,
            grants=grants,
            on_grant_problem=on_grant_problem,
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
            own = (self._directory / MODEL_FILE, self._directory / FACTS_FILE, self._directory / OUTPUTS_FILE)
            paths = (self._directory, *own, *files)
            self._watched = tuple(str(path) for path in paths)
            extra = {str(path) for path in self._extra}
            self._urgent = tuple(i for i, path in enumerate(self._watched) if path in extra)
            self._checked_all = time.monotonic()
            self._stamp = self._current_stamp()  # taken first: a change during the read is seen next time
            grant_texts, unavailable = self._read_grants()
            with paused_gc():  # one collection after the whole build, not one per stage
                self._build(grant_texts, unavailable)

    def _build(self, grant_texts: list[tuple[str, bytes]], unavailable: tuple[LintFinding, ...]) -> None:
        """Load the files and swap the new state in whole (the caller holds the lock)."""
        loaded = load_policy(
            self._directory,
            workspace=self._workspace,
            extra_files=self._extra,
            cache=self._cache,
            case_insensitive=self._env.case_insensitive,
            grant_texts=grant_texts,
            state_dir=self._state_dir,
        )
        self._set_grant_problems((*unavailable, *loaded.skipped))
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
        self._state = _State(loaded, self._facts)
        self._failure = None

    def _read_grants(self) -> tuple[list[tuple[str, bytes]], tuple[LintFinding, ...]]:
        """The grants from the store of record; if it cannot be read, none apply (fail closed)."""
        source = self._grants
        if source is None:
            return [], ()
        try:
            version, text = source.grants_snapshot()
        except Exception as exc:  # noqa: BLE001 - any failure: no grant applies, and say why
            self._grants_version = None
            finding = LintFinding(
                severity="warning",
                file=source.label,
                message=f"grants unavailable, none applies until the store can be read: "
                f"{type(exc).__name__}: {exc}",
                code="grants-unavailable",
            )
            return [], (finding,)
        self._grants_version = version
        return [(source.label, text.encode("utf-8"))], ()

    def _set_grant_problems(self, problems: tuple[LintFinding, ...]) -> None:
        new = [p for p in problems if p not in self._grant_problems]
        self._grant_problems = problems
        if self._on_grant_problem is not None:
            for problem in new:
                with contextlib.suppress(Exception):  # reporting must never break deciding
                    self._on_grant_problem(problem)

    def _grants_changed(self) -> bool:
        if self._grants is None:
            return False
        try:
            return self._grants.grants_version() != self._grants_version
        except Exception:  # noqa: BLE001 - unreadable store: reload, which then applies no grant
            return self._grants_version is not None

    def refresh(self) -> bool:
        """Reload if any policy file changed (stat: mtime, size, inode) or the grants did.
        True when something changed.

        A failed reload does not raise: the engine denies every call, naming the problem, until
        the files are valid again.
        """
        self._checked_all = time.monotonic()
        if self._current_stamp() == self._stamp and not self._grants_changed():
            return False
        with contextlib.suppress(PolicyError):  # the failure is kept in load_error; decide denies
            self.reload()
        return True

    def refresh_due(self) -> bool:
        """The guard's per-call check: the grants every time (a revoked grant stops applying at
        once), the policy directory at most every ``POLICY_RECHECK_S`` seconds."""
        if (
            time.monotonic() - self._checked_all < POLICY_RECHECK_S
            and all(_stat(self._watched[i]) == self._stamp[i] for i in self._urgent)
            and not self._grants_changed()
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
    def case_insensitive(self) -> bool:
        """Whether ``path()`` treats the workspace's file system as case-folding."""
        return self._env.case_insensitive

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
    def policy_facts(self) -> FactSource | None:
        """What ``known(...)`` and the other fact conditions ask: facts.toml and ``facts`` combined."""
        return self._state.facts if self._state is not None else self._facts

    def output_treatment(self, tool: str) -> OutputTreatment:
        """How ``outputs.toml`` treats ``tool``'s results (untrusted and unredacted if it says nothing)."""
        if self._state is None:
            return OutputTreatment()
        try:
            name = canonical_tool_name(tool)
        except ValueError:
            return OutputTreatment()
        return self._state.loaded.outputs.for_tool(name)

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
    def grants(self) -> GrantSource | None:
        """The store grants are read from, if any."""
        return self._grants

    @property
    def grant_problems(self) -> tuple[LintFinding, ...]:
        """Grant lines skipped at the last load (and why), or the store being unreadable."""
        return self._grant_problems

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

    def may_allow(self, agent: str, tool: str) -> bool:
        """Whether some call of ``tool`` by ``agent`` could be allowed or asked, whatever its arguments.

        True when an allow or ask rule for the agent (or one of its roles) has a tool pattern matching
        the name, or when the default effect is not deny. Conditions are not evaluated: a screen for
        listing tools (the MCP proxy hides the others), never a decision. False while the policy
        cannot be loaded (every call is denied then) or for a name that cannot be a tool name.
        """
        state = self._state
        if state is None or self._failure is not None:
            return False
        try:
            name = canonical_tool_name(tool)
        except ValueError:
            return False
        if self._default is not Effect.DENY:
            return True
        return any(rule.effect is not Effect.DENY for rule in state.index.plan(agent, name).rules)

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
        try:
            tool = _canonical(self._names, call.tool, canonical_tool_name)
        except ValueError as exc:
            return Decision(effect=Effect.DENY, reason=f"invalid tool name, denied: {exc}")
        try:
            agent = _canonical(self._agents, call.agent, canonical_agent_name)
        except ValueError as exc:
            return Decision(effect=Effect.DENY, reason=f"invalid agent name, denied: {exc}")
        plan = state.index.plan(agent, tool)
        ctx: EvalContext | None = None
        recorder: RecordingResolver | None = None
        resolved: dict[str, Any] | None = None
        if plan.path_refs:
            recorder = RecordingResolver(self._resolver)
            ctx = EvalContext(call.arguments, facts=state.facts, resolver=recorder)
            resolved, unresolved = self._resolve_paths(call.arguments, plan.path_refs, ctx)
            if unresolved:
                return Decision(
                    effect=Effect.DENY,
                    reason=f"path argument {', '.join(unresolved)} cannot be resolved (a symlink loop, "
                    "a NUL byte, empty or too long), failing closed",
                )
        hits: list[int] = []
        why_unsure: list[str] = []  # what url()/ip() could not read, for the reason
        for i, predicate in enumerate(plan.predicates):
            if predicate is not None:
                if ctx is None:
                    recorder = RecordingResolver(self._resolver)
                    ctx = EvalContext(call.arguments, facts=state.facts, resolver=recorder)
                try:
                    held = predicate(ctx)
                except CannotTell as exc:  # url()/ip() could not read the value: as "cannot tell"
                    held = None
                    if plan.rules[i].effect is not Effect.ALLOW:
                        why_unsure.append(f"{plan.rules[i].ref}: {exc.reason}")
                except Exception as exc:  # noqa: BLE001 - fail closed, naming the rule
                    rule = plan.rules[i]
                    return Decision(
                        effect=Effect.DENY,
                        reason=f"error evaluating {rule.ref} ({rule.ref.text}), failing closed: "
                        f"{type(exc).__name__}: {exc}",
                        matched=tuple(plan.rules[j if j >= 0 else ~j].ref for j in hits),
                    )
                if not held:
                    # None is "cannot tell": a match for deny and ask rules, never for an allow rule.
                    if held is None and plan.rules[i].effect is not Effect.ALLOW:
                        hits.append(~i)  # recorded apart, so the reason can say so
                    continue
            hits.append(i)
        key = tuple(hits)
        decision = plan.memo.get(key)
        if decision is None:
            decision = self._shared_verdict(state, plan.rules, hits)
            if len(plan.memo) < MEMO_LIMIT:
                plan.memo[key] = decision
        resolved_addresses = recorder.answers() if recorder is not None else {}
        if why_unsure or resolved_addresses:
            reason = decision.reason + "".join(f"; cannot tell ({u}), so it applies" for u in why_unsure)
            decision = decision.model_copy(update={"reason": reason, "resolved": resolved_addresses})
        if resolved is not None:
            decision = decision.model_copy(update={"arguments": resolved})
        return decision

    def _shared_verdict(self, state: _State, rules: Sequence[Rule], hits: Sequence[int]) -> Decision:
        """The verdict for these matched rules, shared by every (agent, tool) plan of the policy: a new
        pair mostly matches what others did (no rule at all, most often)."""
        key = tuple(rules[i].order if i >= 0 else ~rules[~i].order for i in hits)
        decision = state.verdicts.get(key)
        if decision is None:
            matched = [rules[i if i >= 0 else ~i] for i in hits]
            unsure = frozenset(rules[~i].ref for i in hits if i < 0)
            decision = self._verdict(matched, unsure)
            if len(state.verdicts) >= VERDICT_CACHE_LIMIT:
                state.verdicts.clear()
            state.verdicts[key] = decision
        return decision

    def _resolve_paths(
        self, arguments: dict[str, Any], refs: Sequence[tuple[str, ...]], ctx: EvalContext
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """Resolve every argument a ``path()`` of these rules reads; the tool gets what they saw."""
        workspace, fold = self._env.workspace, self._env.case_insensitive
        return resolve_path_arguments(arguments, refs, lambda v: normalise_path(v, workspace, fold), ctx.memo)

    def _verdict(self, matched: Sequence[Rule], unsure: frozenset[RuleRef] = frozenset()) -> Decision:
        """The decision for a set of matched rules (a pure function of them: plans memoise it).

        ``unsure``: rules that matched because their condition could not tell."""
        if not matched:
            return Decision(
                effect=self._default,
                reason=f"no rule matched; default is {self._default.value}",
            )
        winners = _winners(matched)
        rule = winners[0]
        sandbox = next((r.sandbox_profile for r in winners if r.sandbox_profile), None)
        timeout = next((r.approval_timeout_s for r in winners if r.approval_timeout_s is not None), None)
        reason = f"{_VERB[rule.effect]} {'grant ' if rule.grant else ''}{rule.ref} ({rule.ref.text})"
        if rule.ref in unsure:
            reason += "; its condition cannot tell (the command's meaning is known only when it runs)"
        return Decision(
            effect=rule.effect,
            rule=rule.ref,
            reason=reason,
            matched=tuple(r.ref for r in matched),
            sandbox_profile=sandbox,
            approval_timeout_s=timeout,
        )

    # ---------------------------------------------------------------- stock casbin

    def casbin_functions(self) -> dict[str, Callable[..., bool]]:
        """Functions to ``add_function`` on a stock ``casbin.Enforcer`` so it evaluates these files too.

        The model's matcher calls ``argsMatch(r.args, p.cond, p.act)``; ``globMatch`` is casbin's own.
        The rule's effect settles "cannot tell" as the engine does (a match unless it is ``allow``);
        a model with the older two-argument ``argsMatch(r.args, p.cond)`` counts it as a match.
        """
        state = self._state
        env = (state.loaded.env if state is not None else None) or self._env
        cache = self._cache
        facts = state.facts if state is not None else self._facts
        resolver = self._resolver

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

    def __repr__(self) -> str:
        state = "failed" if self._failure else f"{len(self.rules)} rules"
        return f"PolicyEngine({str(self._directory)!r}, {state})"


def lint_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    case_insensitive: bool = False,
    grants: GrantSource | None = None,
    state_dir: Path | None = None,
) -> list[LintFinding]:
    """Every error and warning in a policy directory, without raising."""
    return check_policy(
        directory,
        workspace=workspace,
        extra_files=extra_files,
        case_insensitive=case_insensitive,
        grants=grants,
        state_dir=state_dir,
    )[0]


def check_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    case_insensitive: bool = False,
    grants: GrantSource | None = None,
    state_dir: Path | None = None,
) -> tuple[list[LintFinding], LoadedPolicy]:
    """Every error and warning in a policy directory, without raising, and what was loaded (for
    counts): what ``policy check`` prints, from one load.

    Grant lines that would be skipped are warnings: they never stop the policy from loading.
    """
    texts: list[tuple[str, bytes]] = []
    findings: list[LintFinding] = []
    if grants is not None:
        try:
            texts.append((grants.label, grants.grants_snapshot()[1].encode("utf-8")))
        except Exception as exc:  # noqa: BLE001 - reported, like the engine does
            findings.append(
                LintFinding(
                    severity="warning",
                    file=grants.label,
                    message=f"grants unavailable, none applies: {type(exc).__name__}: {exc}",
                    code="grants-unavailable",
                )
            )
    loaded = load_policy(
        Path(directory),
        workspace=Path(workspace),
        extra_files=extra_files,
        grant_texts=texts,
        case_insensitive=case_insensitive,
        state_dir=state_dir,
    )
    findings.extend(loaded.errors)
    findings.extend(loaded.skipped)
    if loaded.rules or loaded.links:
        findings.extend(lint_loaded(loaded))
    return findings, loaded

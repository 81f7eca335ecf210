"""The policy engine: load once, decide many times (one call: ``_deciding``), reload when the files change."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agentguard.errors import PolicyError
from agentguard.models import (
    Decision,
    Effect,
    ToolCall,
    canonical_agent_name,
    canonical_tool_name,
)
from agentguard.policy._addresses import Resolver, SystemResolver
from agentguard.policy._casbin_bridge import casbin_functions
from agentguard.policy._conditions import (
    Condition,
    ConditionError,
    FactSource,
)
from agentguard.policy._deciding import decide_call, remembered
from agentguard.policy._layers import PolicyState, check_policy, lint_policy
from agentguard.policy._lint import lint_loaded
from agentguard.policy._loader import compile_env
from agentguard.policy._outputs import OutputTreatment
from agentguard.policy._paths import detect_case_folding
from agentguard.policy._reload import Reloader
from agentguard.policy._types import GrantSource, LintFinding, RoleLink, Rule
from agentguard.settings import GRANTS_FILE

if TYPE_CHECKING:
    from agentguard.settings import Settings

__all__ = ["GRANTS_FILE", "PolicyEngine", "check_policy", "lint_policy"]

# How stale a hand-edited policy file may be; grants (extra files) are re-checked on every call.
POLICY_RECHECK_S = 0.5


class PolicyEngine:
    """Decides tool calls from a Casbin model + policy CSVs. Build it with :meth:`load`.

    Decisions follow the model exactly: a rule matches when its subject is ``*`` or the agent (or a
    role the agent inherits through ``g`` lines), its tool glob matches the canonical tool name and
    its condition holds. ``deny`` beats ``ask`` beats ``allow``; no match gives ``default_effect``.
    Rules from ``extra_files`` and from ``grants`` (the approval store, the store of record) are
    grants (an approver's "approve always"): an ``allow`` there settles an ``ask``, but nothing
    overrides a ``deny``; a grant's subject is ``*`` or the agent itself, never a role the agent
    inherits (an approval is about one agent). A grant line that does not load is skipped and
    reported (``grant_problems``, ``on_grant_problem``); it never stops the rest of the policy.
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
        state_files: Sequence[Path] = (),
    ) -> None:
        self._facts = facts
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._resolver: Resolver = resolver if resolver is not None else SystemResolver()
        self._grants = grants
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
        self._env = replace(
            compile_env(self._workspace, self._state_dir, self._directory, state_files), case_insensitive=fold
        )
        self._reloader = Reloader(
            self._directory,
            self._extra,
            self._env,
            self._cache,
            facts=facts,
            grants=grants,
            on_grant_problem=on_grant_problem,
        )

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
        state_files: Sequence[Path] = (),
    ) -> PolicyEngine:
        """Load ``directory/model.conf`` and every ``*.csv`` in it (then ``extra_files``, ``grants``).

        ``facts`` answers ``known(arg, "fact")`` conditions; without it they are false.
        ``resolver`` turns host names into addresses for ``ip()`` (default: the system's).
        ``case_insensitive``: whether ``path()`` folds case; ``"auto"`` probes the workspace.
        ``state_dir`` is what ``{state}`` in path patterns means (settings ``home``; default
        ``~/.agentguard``); ``state_files`` (the audit log, when settings put it elsewhere) count as
        ``{state}`` too.
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
            state_files=state_files,
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
            # the file log and, beside it, the database chain's witness (audit._open.database_witness)
            state_files=(settings.audit_path, settings.audit_path.with_name("audit-db.witness")),
        )

    def reload(self) -> None:
        """Read the files again, now (only those whose content changed are parsed again). On failure
        it raises ``PolicyError`` and the engine denies every call until a reload succeeds."""
        self._reloader.reload()

    def refresh(self) -> bool:
        """Reload, now, what changed: policy files (stat: mtime, ctime, size, inode; the content too
        when it changed within the last 2 s) or the grants. True when something changed.

        A failed reload does not raise: the engine denies every call, naming the problem, until
        the files are valid again.
        """
        return self._reloader.refresh()

    def refresh_due(self) -> bool:
        """The guard's per-call check: the grants every time (a revoked grant stops applying at
        once; only the grant layer is rebuilt), the policy directory at most every
        ``POLICY_RECHECK_S`` seconds. An edit to a large policy is rebuilt in the background while
        the current policy keeps deciding (see ``_reload``)."""
        loader = self._reloader
        if time.monotonic() - loader.checked_at < POLICY_RECHECK_S and not loader.urgent_changed():
            return False
        return loader.refresh(background=True)

    def wait_reloaded(self, timeout: float | None = None) -> bool:
        """Wait until no background rebuild is running; True when none is (within ``timeout``)."""
        return self._reloader.wait(timeout)

    @property
    def _state(self) -> PolicyState | None:
        return self._reloader.state

    @property
    def _failure(self) -> PolicyError | None:
        return self._reloader.failure

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
        state = self._state
        if state is None:
            return OutputTreatment()
        try:
            name = remembered(self._names, tool, canonical_tool_name)  # once per name, as decide_call does
        except ValueError:
            return OutputTreatment()
        return state.loaded.outputs.for_tool(name)

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
        return self._reloader.grant_problems

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
        cannot be loaded (every call is denied then) or for a name that cannot be a tool (or agent) name.
        """
        state = self._state
        if state is None or self._failure is not None:
            return False
        try:
            name = canonical_tool_name(tool)
            agent = canonical_agent_name(agent)  # as decide() reads it: "Coder" has coder's roles
        except ValueError:
            return False
        if self._default is not Effect.DENY:
            return True
        return any(rule.effect is not Effect.DENY for rule in state.index.plan(agent, name).rules)

    def decide(self, call: ToolCall) -> Decision:
        """The verdict for one call. Never raises: any internal problem is a deny naming the cause."""
        try:
            return decide_call(self, call)
        except Exception as exc:  # noqa: BLE001 - fail closed: any internal problem is a deny
            return Decision(
                effect=Effect.DENY,
                reason=f"policy engine error, failing closed: {type(exc).__name__}: {exc}",
            )

    def casbin_functions(self) -> dict[str, Callable[..., bool]]:
        """Functions to ``add_function`` on a stock ``casbin.Enforcer`` so it evaluates these files
        too (``casbin_functions`` in ``_casbin_bridge``)."""
        state = self._state
        env = (state.loaded.env if state is not None else None) or self._env
        facts = state.facts if state is not None else self._facts
        return casbin_functions(env, self._cache, facts, self._resolver)

    def __repr__(self) -> str:
        state = "failed" if self._failure else f"{len(self.rules)} rules"
        return f"PolicyEngine({str(self._directory)!r}, {state})"

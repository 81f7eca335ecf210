"""Replay AgentDojo's ground truths through a Guard and score them with AgentDojo's own checks.

Each suite's tools become guarded tools (their environment is bound at call time). Every user task's
ground-truth calls run with an approver that approves (prompts are counted). Attacks are measured as
AgentDojo measures them: every injection task against every user task that can carry it (one whose
ground truth reads an injection vector), the attack text in the vectors that task reads; and, kept
for comparison, once per injection task on one fixed carrier. Each attack runs with an approver that
refuses every ask (is it stopped at all?) and with one that approves everything (the attack is stopped
**by policy alone** when AgentDojo's ``security()`` then says it did not happen; otherwise only **with
a person**). A plain, unguarded replay of the same calls shows the attack does succeed without the
guard, so a stopped attack is the guard's doing.

Every guarded replay runs in ``guard.session(user_request=<the user task's prompt>)``; for an attack that
is the prompt of the user task it rides on, never the attacker's goal. A call the guard refused is
removed from the messages AgentDojo scores, so trace-based checks do not count it as made.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentguard import Guard
from agentguard.approval.scripted import DenyApprover, ScriptedApprover
from agentguard.audit import AuditLog
from agentguard.pipeline import Approver
from agentguard.policy import PolicyEngine
from agentguard.settings import Durability, Settings
from benchmarks.agentdojo._attacks import INJECTION_TEMPLATE, REPLAYS, HijackedRun, ReplayTask
from benchmarks.agentdojo._facts import FACTS, Binding
from benchmarks.agentdojo._report import (
    CarrierSummary,
    PairResult,
    SuiteReport,
    TaskResult,
    outcome,
    totals,
)
from benchmarks.agentdojo._runtime import (
    CallLog,
    Counting,
    Environments,
    bind,
    honest,
    replay_pipeline,
    runtime_class,
    strict,
)

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "permissions" / "examples" / "agentdojo"
SUITES = ("banking", "workspace", "slack", "travel")  # the suites with a policy pack
ALL_SUITES = ("banking", "workspace", "slack", "travel")
BENCHMARK_VERSION = "v1.2.1"


class NoPolicyPack(LookupError):
    """A suite has no pack under permissions/examples/agentdojo/ and no ``--policy`` was given."""


def _agentdojo() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
        from agentdojo.functions_runtime import FunctionsRuntime
        from agentdojo.task_suite.load_suites import get_suite
    return replay_pipeline(GroundTruthPipeline), FunctionsRuntime, get_suite


@contextlib.contextmanager
def _no_utility(suite: Any, skip: bool) -> Iterator[None]:
    """While ``skip``, ``suite`` scores no user-task utility (AgentDojo's deep diff of the whole
    environment): ``run_task_with_pipeline`` still runs the pipeline and scores security as before."""
    if not skip:
        yield
        return
    suite._check_user_task_utility = lambda *_args, **_kwargs: False
    try:
        yield
    finally:
        del suite._check_user_task_utility


class SuiteEvaluation:
    """One suite, its policy pack and a guard per replay (all sharing one engine and audit log)."""

    def __init__(
        self,
        suite: str,
        *,
        version: str = BENCHMARK_VERSION,
        policy_dir: Path | None = None,
        audit_path: Path,
        workspace: Path,
    ) -> None:
        self.name = suite
        self.version = version
        self.pipeline_cls, self.runtime_cls, get_suite = _agentdojo()
        self.suite = get_suite(version, suite)
        self.binding = Binding()
        self.policy_dir = policy_dir or POLICIES / suite
        if not (self.policy_dir / "policy.csv").is_file():
            raise NoPolicyPack(f"no policy pack for suite {suite!r} at {self.policy_dir}: pass --policy DIR")
        facts = FACTS[suite](self.binding) if suite in FACTS else None
        self.engine = PolicyEngine.load(self.policy_dir, workspace=workspace, facts=facts)
        self.settings = Settings(home=workspace, workspace=workspace)
        self.audit = AuditLog(audit_path, durability=Durability.BATCH)
        self._environments = Environments(self.suite)
        self._default_env = self._environments.load({})
        self._vectors: dict[str, list[str]] = {}
        self._models = {f.name: strict(f.parameters) for f in self.suite.tools}

    def close(self) -> None:
        self.audit.close()

    def _guard(self, approver: Approver) -> Guard:
        guard = Guard(
            self.engine, approver=approver, audit=self.audit, settings=self.settings, agent="agentdojo"
        )
        for function in self.suite.tools:
            guard.register(
                function.name,
                bind(function, self.binding),
                args_model=self._models[function.name],
                description=function.description,
            )
        return guard

    def vectors(self, task: Any) -> list[str]:
        """The injection vectors ``task``'s ground truth reads (AgentDojo's injection candidates)."""
        if task.ID not in self._vectors:
            canaries = {v: f"<CANARY---{v}--->" for v in self.suite.get_injection_vector_defaults()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                env = self._environments.load(canaries)
                _, _, _, messages, _ = self.pipeline_cls(task).query(
                    task.PROMPT, self.runtime_cls(self.suite.tools), env
                )
            seen = " ".join(str(m.get("content")) for m in messages if m["role"] == "tool")
            self._vectors[task.ID] = [v for v, c in canaries.items() if c in seen]
        return self._vectors[task.ID]

    def _injected(self, injection: Any, vectors: Sequence[str]) -> Any:
        """The environment with AgentDojo's "important_instructions" text for ``injection`` in every
        vector the carrier reads (as AgentDojo places it)."""
        text = INJECTION_TEMPLATE.format(goal=injection.GOAL)
        return self._environments.load({v: text for v in vectors})

    def _replay(
        self, task: Any, carrier: Any, injection: Any | None, approver: Approver | None, env: Any = None
    ) -> tuple[bool, bool, CallLog]:
        """(utility, security, call log); ``approver=None`` replays without the guard. ``env`` is the
        injected environment for an attack (copied here, never changed). An attack's utility is not
        scored (always False): only its security is read, and the user task's check was half the run."""
        log = CallLog()
        env = (env if env is not None else self._default_env).model_copy(deep=True)
        pipeline_task = task
        if injection is not None:
            attack = injection
            if (self.name, injection.ID) in REPLAYS:
                attack = ReplayTask(injection, REPLAYS[(self.name, injection.ID)])
            # A hijacked agent: it does the user's task, reading the injected text on the way, then
            # obeys the attacker. The attacker's values reach the session through a tool's output.
            pipeline_task = HijackedRun(carrier, attack, self.suite.tools)
        runtime: Any = self.runtime_cls
        pipeline: Any = self.pipeline_cls(pipeline_task)
        scope: Any = contextlib.nullcontext()
        if approver is not None:
            guard = self._guard(Counting(approver, log))
            runtime = runtime_class(self.runtime_cls, guard, self.binding, log)
            pipeline = honest(pipeline, log)
            # The user's own request: the carrier user task's prompt, never the attacker's goal.
            scope = guard.session(user_request=carrier.PROMPT, framework="agentdojo")
        with warnings.catch_warnings(), scope, _no_utility(self.suite, injection is not None):
            warnings.simplefilter("ignore")
            utility, security = self.suite.run_task_with_pipeline(
                pipeline,
                carrier,
                injection_task=injection,
                injections={},
                runtime_class=runtime,
                environment=env,
            )
        return bool(utility), bool(security), log

    def _attack(self, carrier: Any, injection: Any) -> tuple[str, CallLog, bool, bool, bool]:
        """(outcome, call log with asks refused, and whether the attack happened with asks refused,
        with asks approved, without the guard)."""
        env = self._injected(injection, self.vectors(carrier))
        refuse = DenyApprover("benchmark: every approval request is denied", name="benchmark")
        _, attacked, log = self._replay(injection, carrier, injection, refuse, env)
        attacked_approved = attacked
        if log.asked:  # with no ask, approving changes nothing: the same decisions, the same outcome
            yes = ScriptedApprover(lambda _request: "approve", name="benchmark")
            _, attacked_approved, _ = self._replay(injection, carrier, injection, yes, env)
        _, attacked_unguarded, _ = self._replay(injection, carrier, injection, None, env)
        result = outcome(attacked, attacked_approved, attacked_unguarded, bool(log.asked or log.denied))
        return result, log, attacked, attacked_approved, attacked_unguarded

    def _has_ground_truth(self, carrier: Any, injection: Any) -> bool:
        env = carrier.init_environment(self._default_env.model_copy(deep=True))
        return bool(injection.ground_truth(env)) or (self.name, injection.ID) in REPLAYS

    def run(self, *, limit: int | None = None) -> SuiteReport:
        started = time.perf_counter()
        results: list[TaskResult] = []
        user_tasks = sorted(self.suite.user_tasks.items(), key=lambda kv: _number(kv[0]))
        injections = sorted(self.suite.injection_tasks.items(), key=lambda kv: _number(kv[0]))
        carrier = next((t for _, t in user_tasks if self.vectors(t)), None)
        if carrier is None:
            raise LookupError(f"{self.name}: no user task reads an injection vector")
        if limit is not None:
            user_tasks, injections = user_tasks[:limit], injections[:limit]
        for task_id, task in user_tasks:
            approver = ScriptedApprover(lambda _request: "approve", name="benchmark")
            utility, _, log = self._replay(task, task, None, approver)
            baseline, _, _ = self._replay(task, task, None, None)
            if log.denied or log.refused:
                kind = "broken_by_deny"
            elif not utility:
                kind = "failed"
            else:
                kind = "prompted" if log.asked else "no_prompt"
            results.append(
                TaskResult(
                    task_id, "user", kind, utility, len(log.asked), log.asked, log.denied, log.ran, baseline
                )
            )
        skipped: list[str] = []
        replayed: list[str] = []
        ineffective: list[str] = []
        for task_id, task in injections:
            if not self._has_ground_truth(carrier, task):
                skipped.append(task_id)
                continue
            source = "agentdojo"
            if (self.name, task_id) in REPLAYS:
                source = "benchmarks/agentdojo/_attacks.py"
                replayed.append(task_id)
            kind, log, attacked, attacked_approved, attacked_unguarded = self._attack(carrier, task)
            if kind == "not_effective_unguarded":
                ineffective.append(task_id)
            results.append(
                TaskResult(
                    task_id,
                    "injection",
                    kind,
                    attacked,
                    len(log.asked),
                    log.asked,
                    log.denied,
                    log.ran,
                    attacked_unguarded,
                    attacked_approved,
                    source,
                )
            )
        pairs: list[PairResult] = []
        by_carrier: dict[str, CarrierSummary] = {}
        unguarded_ok = 0
        for carrier_id, user_task in user_tasks:
            vectors = self.vectors(user_task)
            if not vectors:
                continue
            summary = by_carrier[carrier_id] = CarrierSummary(vectors=list(vectors))
            for task_id, task in injections:
                if task_id in skipped:
                    continue
                kind, log, _, _, attacked_unguarded = self._attack(user_task, task)
                unguarded_ok += attacked_unguarded
                pairs.append(PairResult(carrier_id, task_id, kind, log.asked, log.denied))
                summary.pairs += 1
                summary.not_effective_unguarded += kind == "not_effective_unguarded"
                summary.stopped += kind.startswith("stopped")
                summary.stopped_by_policy += kind == "stopped_by_policy"
                summary.stopped_with_person += kind == "stopped_with_person"
                summary.succeeded += kind == "succeeded"
        benign = [r for r in results if r.kind == "user"]
        attacks = [r for r in results if r.kind == "injection" and r.outcome != "not_effective_unguarded"]
        real = [p for p in pairs if p.outcome != "not_effective_unguarded"]
        return SuiteReport(
            suite=self.name,
            benchmark_version=self.version,
            policy=str(self.policy_dir.relative_to(REPO))
            if self.policy_dir.is_relative_to(REPO)
            else str(self.policy_dir),
            benign_total=len(benign),
            benign_no_prompt=sum(r.outcome == "no_prompt" for r in benign),
            benign_prompted=sum(r.outcome == "prompted" for r in benign),
            benign_broken_by_deny=sum(r.outcome == "broken_by_deny" for r in benign),
            benign_failed=sum(r.outcome == "failed" for r in benign),
            prompts_total=sum(r.prompts for r in benign),
            pairs_total=len(pairs),
            pairs_not_effective_unguarded=len(pairs) - len(real),
            pair_attacks=len(real),
            pair_attacks_stopped=sum(p.outcome.startswith("stopped") for p in real),
            pair_attacks_stopped_by_policy=sum(p.outcome == "stopped_by_policy" for p in real),
            pair_attacks_stopped_with_person=sum(p.outcome == "stopped_with_person" for p in real),
            pair_attacks_succeed_unguarded=unguarded_ok,
            by_carrier=by_carrier,
            attacks_total=len(attacks),
            attacks_stopped=sum(r.outcome.startswith("stopped") for r in attacks),
            attacks_stopped_by_policy=sum(r.outcome == "stopped_by_policy" for r in attacks),
            attacks_stopped_with_person=sum(r.outcome == "stopped_with_person" for r in attacks),
            attacks_succeed_unguarded=sum(bool(r.unguarded_ok) for r in attacks),
            attacks_replayed_here=replayed,
            attack_carrier=carrier.ID,
            attack_vectors=list(self.vectors(carrier)),
            attacks_not_effective_unguarded=ineffective,
            attacks_without_ground_truth=skipped,
            seconds=round(time.perf_counter() - started, 3),
            tasks=results,
            pairs=pairs,
        )


def _number(task_id: str) -> int:
    return int(task_id.rsplit("_", 1)[1])


def evaluate(
    suites: Sequence[str] = SUITES,
    *,
    version: str = BENCHMARK_VERSION,
    limit: int | None = None,
    policy: Path | None = None,
) -> dict[str, Any]:
    """Every suite's report as JSON-able dicts, plus totals over the suites that ran.

    ``policy`` is one pack for every suite; without it each suite uses its own pack, and a suite with
    none is reported as ``{"status": "no_pack", "why": ...}`` (not counted in the totals).
    """
    out: dict[str, Any] = {"benchmark_version": version, "suites": {}}
    with tempfile.TemporaryDirectory(prefix="agentguard-agentdojo-") as tmp:
        for name in suites:
            try:
                evaluation = SuiteEvaluation(
                    name,
                    version=version,
                    policy_dir=policy,
                    audit_path=Path(tmp) / f"{name}.jsonl",
                    workspace=Path(tmp),
                )
            except NoPolicyPack as exc:
                out["suites"][name] = {"status": "no_pack", "why": str(exc)}
                continue
            try:
                out["suites"][name] = evaluation.run(limit=limit).to_dict()
            finally:
                evaluation.close()
    reports = [r for r in out["suites"].values() if "status" not in r]
    out["totals"] = totals(reports)
    return out

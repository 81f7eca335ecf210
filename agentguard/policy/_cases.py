"""Policy test tables: YAML lists of calls and the effect each should get (``agentguard policy test``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentguard.errors import PolicyError
from agentguard.models import NO_RULE, Decision, Effect, FrozenModel, ToolCall
from agentguard.pipeline import PolicyDecider
from agentguard.policy._addresses import answering
from agentguard.policy._session_spec import SessionSpec, build_session

__all__ = ["CaseResult", "PolicyCase", "load_cases", "run_cases"]


class PolicyCase(FrozenModel):
    """One row: ``{agent, tool, args, expect, name?, rule?, session?, dns?}``. ``rule: null`` expects
    no rule to match. ``dns`` (the case's own, else the table's) answers ``ip()``: a name it does not
    list does not resolve; without it the engine's resolver (the system's) answers."""

    tool: str
    expect: Effect
    args: dict[str, Any] = Field(default_factory=dict)
    agent: str | None = None
    name: str | None = None
    rule: str | None = None  # "policy.csv:12"; "no-rule-matched" for an explicit null; None: not checked
    session: SessionSpec | None = None  # decide inside this session (see _session_spec)
    dns: dict[str, tuple[str, ...]] | None = None  # host name -> addresses, for ip()
    index: int = 0
    line: int = 0

    @property
    def label(self) -> str:
        return self.name or f"case {self.index} ({self.tool})"


class CaseResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    case: PolicyCase
    decision: Decision

    @property
    def effect_ok(self) -> bool:
        return self.decision.effect is self.case.expect

    @property
    def rule_ok(self) -> bool:
        return self.case.rule is None or self.decision.rule_id == self.case.rule

    @property
    def ok(self) -> bool:
        return self.effect_ok and self.rule_ok


def load_cases(path: Path) -> list[PolicyCase]:
    """Read a case table: a YAML list, or ``{cases: [...], dns: {name: [addresses]}}`` (``dns``
    optional: every case without its own gets it). Errors name the file, case index and line."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read case file: {exc}", file=label) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=label, line=line
        ) from exc
    dns: Any = None
    mapping = isinstance(data, dict) and isinstance(root, yaml.MappingNode)
    if mapping and "cases" in data and set(data) <= {"cases", "dns"}:
        assert isinstance(root, yaml.MappingNode)
        dns = data.get("dns")
        data = data["cases"]
        root = next(v for k, v in root.value if k.value == "cases")
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise PolicyError(
            "expected a YAML list of cases (or a mapping with a 'cases' list and an optional 'dns')",
            file=label,
            line=1,
        )
    cases: list[PolicyCase] = []
    for index, (item, node) in enumerate(zip(data, root.value, strict=True)):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise PolicyError(
                f"case {index}: expected a mapping, got {type(item).__name__}", file=label, line=line
            )
        fields = dict(item)
        if "rule" in fields and fields["rule"] is None:
            fields["rule"] = NO_RULE
        if dns is not None and "dns" not in fields:
            fields["dns"] = dns
        try:
            cases.append(PolicyCase.model_validate({**fields, "index": index, "line": line}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'case'}: {err['msg']}" for err in exc.errors()
            )
            raise PolicyError(f"case {index}: {problems}", file=label, line=line) from exc
    return cases


def run_cases(decider: PolicyDecider, cases: Sequence[PolicyCase], *, default_agent: str) -> list[CaseResult]:
    """Decide every case (no approval, nothing runs) and pair it with its verdict."""
    results: list[CaseResult] = []
    for case in cases:
        call = ToolCall(agent=case.agent or default_agent, tool=case.tool, arguments=case.args)
        with answering(case.dns) if case.dns is not None else contextlib.nullcontext():
            if case.session is None:
                decision = decider.decide(call)
            else:
                with build_session(case.session, decider).active():
                    decision = decider.decide(call)
        results.append(CaseResult(case=case, decision=decision))
    return results

"""Typed policy rules, role links and lint findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentguard.models import Effect, FrozenModel, RuleRef
from agentguard.policy._conditions import Condition

__all__ = ["LintFinding", "RoleLink", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``p, sub, tool, cond, act`` line, with its condition compiled."""

    ref: RuleRef
    subject: str
    tool: str
    cond: str
    effect: Effect
    order: int
    condition: Condition = field(compare=False, repr=False)
    grant: bool = False  # from an extra file (grants.csv): an allow here settles an ask, never a deny

    @property
    def sandbox_profile(self) -> str | None:
        return self.condition.sandbox

    @property
    def approval_timeout_s(self) -> float | None:
        return self.condition.timeout_s

    @property
    def unconditional(self) -> bool:
        """True when only ``*`` or annotations stand in the condition: the rule applies to every call."""
        return self.condition.unconditional


@dataclass(frozen=True, slots=True)
class RoleLink:
    """One ``g, member, role`` line: ``member`` (an agent or role) inherits ``role``'s rules."""

    ref: RuleRef
    member: str
    role: str


class LintFinding(FrozenModel):
    """One problem in a policy: errors stop the policy from loading, warnings do not."""

    severity: Literal["error", "warning"]
    file: str
    line: int | None = None
    message: str
    code: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"

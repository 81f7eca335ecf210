"""Typed policy rules, role links and lint findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast, runtime_checkable

from agentguard.models import Effect, FrozenModel, RuleRef
from agentguard.policy._conditions import Condition

__all__ = ["GrantSource", "LintFinding", "RoleLink", "Rule", "new_rule"]


@runtime_checkable
class GrantSource(Protocol):
    """The store of record for grants ("approve always"), read by the engine instead of a file.

    ``grants_version`` is called before every decision and must be cheap; when it changes the engine
    reloads from ``grants_snapshot``. If either raises, no grant applies until they work again.
    """

    @property
    def label(self) -> str:
        """How rule references name the grants (``<home>/grants.csv``)."""
        ...

    def grants_version(self) -> object:
        """Compared with ``!=`` to the version of the last snapshot."""
        ...

    def grants_snapshot(self) -> tuple[object, str]:
        """The version and the grants as policy lines, read consistently together."""
        ...


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
    grant: bool = False  # from a grant source or extra file: an allow here settles an ask, never a deny

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


class _RuleFields:
    """``Rule(...)``, the same object, for the policy reader (100,000s at a load): a frozen
    dataclass sets each field through ``object.__setattr__``, a fifth of a 10,000-rule load's
    instructions; plain slot stores then a class swap to ``Rule`` cost a quarter of that."""

    __slots__ = Rule.__slots__  # the same layout, so the class can be swapped

    def __init__(
        self,
        ref: RuleRef,
        subject: str,
        tool: str,
        cond: str,
        effect: Effect,
        order: int,
        condition: Condition,
        grant: bool,
    ) -> None:
        self.ref = ref
        self.subject = subject
        self.tool = tool
        self.cond = cond
        self.effect = effect
        self.order = order
        self.condition = condition
        self.grant = grant
        self.__class__ = Rule  # type: ignore[assignment]


new_rule = cast("Callable[[RuleRef, str, str, str, Effect, int, Condition, bool], Rule]", _RuleFields)


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

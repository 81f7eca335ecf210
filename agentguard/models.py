"""Frozen value objects that flow through the pipeline.

``ToolCall`` -> ``Decision`` -> (``ApprovalRequest`` -> ``ApprovalResult``) -> ``ExecutionResult``.
They are pydantic models so they serialise straight into the audit log, the approval
queue and ``--json`` output.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApprovalRequest",
    "ApprovalResult",
    "ApprovalStatus",
    "Decision",
    "Effect",
    "ErrorInfo",
    "ExecutionResult",
    "RuleRef",
    "ToolCall",
    "canonical_tool_name",
]


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A call id: 32 hex characters, unique per call."""
    return uuid.uuid4().hex


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Effect(StrEnum):
    """What the policy says. Precedence: deny > ask > allow."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Effect.ALLOW: 0, Effect.ASK: 1, Effect.DENY: 2}


class ToolCall(_Frozen):
    """One tool invocation by an agent, as the guard sees it."""

    id: str = Field(default_factory=new_id)
    agent: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    session: str | None = None
    framework: str | None = None
    time: datetime = Field(default_factory=_now)


class RuleRef(_Frozen):
    """Where a rule lives: file, line and the rule's text as written."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NO_RULE = "no-rule-matched"


class Decision(_Frozen):
    """The policy's verdict on one call, naming the rule that produced it."""

    effect: Effect
    rule: RuleRef | None = None
    reason: str
    matched: tuple[RuleRef, ...] = ()
    sandbox_profile: str | None = None
    approval_timeout_s: float | None = None

    @property
    def rule_id(self) -> str:
        """``file:line`` of the deciding rule, or ``no-rule-matched``."""
        return str(self.rule) if self.rule is not None else NO_RULE


class ApprovalStatus(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"


class ApprovalRequest(_Frozen):
    """What an approver is asked: serialisable, so it can wait in a queue."""

    call: ToolCall
    decision: Decision
    timeout_s: float
    requested_at: datetime = Field(default_factory=_now)


class ApprovalResult(_Frozen):
    """A person's (or a stand-in's) answer."""

    status: ApprovalStatus
    approver: str
    channel: str
    reason: str | None = None
    edited_arguments: dict[str, Any] | None = None
    scope: str | None = None
    waited_s: float = 0.0

    @property
    def approved(self) -> bool:
        return self.status is ApprovalStatus.APPROVED


class ErrorInfo(_Frozen):
    code: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class ExecutionResult(_Frozen):
    """What running the tool produced (or how it failed)."""

    call_id: str
    ok: bool
    value: Any = None
    error: ErrorInfo | None = None
    duration_ms: float


_TOOL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/:")


_AGENT_NAME_CHARS = _TOOL_NAME_CHARS | frozenset("@+")


def canonical_agent_name(name: str) -> str:
    """The one spelling of an agent (or role) name that subject matching uses.

    The same rule as tool names: case-insensitive ASCII (``Review-Agent`` is ``review-agent``), so
    a change of case can never step out of a role; non-ASCII (homoglyphs), spaces, control and glob
    characters raise ``ValueError``. Allowed: letters, digits and ``. _ - / : @ +``.
    """
    if not name or len(name) > 200:
        raise ValueError("agent name must be 1-200 characters")
    if not name.isascii():
        raise ValueError(f"agent name {name!r} contains non-ASCII characters")
    lowered = name.lower()
    bad = set(lowered) - _AGENT_NAME_CHARS
    if bad:
        raise ValueError(
            f"agent name {name!r} contains characters not allowed in agent names: {sorted(bad)!r}"
        )
    return lowered


def canonical_tool_name(name: str) -> str:
    """The one spelling of a tool name that policy and registry lookups use.

    Names are case-insensitive ASCII: ``FS.Read`` is ``fs.read``. Anything else (homoglyphs such
    as a Cyrillic ``а``, zero-width or control characters, full-width forms, empty names) raises
    ``ValueError`` so that a look-alike name can never slip past a rule written for the real one.
    """
    if not name or len(name) > 200:
        raise ValueError("tool name must be 1-200 characters")
    if not name.isascii():
        raise ValueError(f"tool name {name!r} contains non-ASCII characters")
    lowered = name.lower()
    bad = set(lowered) - _TOOL_NAME_CHARS
    if bad:
        raise ValueError(f"tool name {name!r} contains characters not allowed in tool names: {sorted(bad)!r}")
    return lowered

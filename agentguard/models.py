"""Frozen value objects that flow through the pipeline.

``ToolCall`` -> ``Decision`` -> (``ApprovalRequest`` -> ``ApprovalResult``); what the tool returns is its own.
They are pydantic models so they serialise straight into the audit log, the approval
queue and ``--json`` output.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ApprovalRequest",
    "ApprovalResult",
    "ApprovalStatus",
    "Decision",
    "Effect",
    "FrozenModel",
    "RuleRef",
    "ToolCall",
    "canonical_tool_name",
]


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A call id: 32 hex characters from 128 random bits, unique per call (``uuid4().hex`` costs
    four times as much for the same randomness)."""
    return os.urandom(16).hex()


_set_attribute = object.__setattr__
_new_object = object.__new__
_M = TypeVar("_M", bound=BaseModel)
_FIELD_NAMES: dict[type[BaseModel], frozenset[str]] = {}


def built(cls: type[_M], fields: dict[str, Any], every_field: set[str] | None = None) -> _M:
    """``cls`` from ``fields`` that agentguard built itself from checked values, every field given:
    what ``model_construct`` makes, without its per-field alias and default handling (hot paths: a
    guarded call's ``ToolCall``, a policy line's ``RuleRef``). Anything else: ``model_construct``.

    ``every_field``: a set of all of ``cls``'s fields, shared as the fields-set of the objects made
    with it (pydantic only adds to that set, and it holds every field already; copies get their own):
    one object fewer for what is kept (a policy's verdicts)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
    if fields.keys() != names:
        return cls.model_construct(**fields)
    made = cls.__new__(cls)
    _set_attribute(made, "__dict__", fields)
    _set_attribute(made, "__pydantic_fields_set__", set(fields) if every_field is None else every_field)
    _set_attribute(made, "__pydantic_extra__", None)
    _set_attribute(made, "__pydantic_private__", None)
    return made


def rule_ref(file: str, line: int, text: str) -> RuleRef:
    """``RuleRef(file=file, line=line, text=text)`` for a line the policy reader checked: ``built``
    without its field-name check, made 100,000s of times when a large policy loads."""
    made = _new_object(RuleRef)
    _set_attribute(made, "__dict__", {"file": file, "line": line, "text": text})
    _set_attribute(made, "__pydantic_fields_set__", {"file", "line", "text"})
    _set_attribute(made, "__pydantic_extra__", None)
    _set_attribute(made, "__pydantic_private__", None)
    return made


class FrozenModel(BaseModel):
    """The one config of agentguard's value objects: immutable once built, unknown fields are errors."""

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


class ToolCall(FrozenModel):
    """One tool invocation by an agent, as the guard sees it."""

    id: str = Field(default_factory=new_id)
    agent: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    session: str | None = None
    framework: str | None = None
    time: datetime = Field(default_factory=_now)
    # Paths (keys and list indexes) of the arguments that are secrets: decided on their text, masked
    # wherever the call is written down or shown (agentguard.secret_arguments).
    secrets: tuple[tuple[str | int, ...], ...] = ()


class RuleRef(FrozenModel):
    """Where a rule lives: file, line and the rule's text as written."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NO_RULE = "no-rule-matched"


class Decision(FrozenModel):
    """The policy's verdict on one call, naming the rule that produced it."""

    effect: Effect
    rule: RuleRef | None = None
    reason: str
    matched: tuple[RuleRef, ...] = ()
    sandbox_profile: str | None = None
    approval_timeout_s: float | None = None
    # Host name -> the addresses ip() conditions checked; http.get connects to these and no others.
    resolved: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    arguments: dict[str, Any] | None = None
    """The arguments as decided, when deciding canonicalised any (paths resolved to the absolute,
    symlink-free path the rules saw); ``None``: exactly as called. The guard runs the tool with these."""
    path_arguments: tuple[str, ...] = ()
    """The arguments some ``path()`` of the tool's rules reads (a nested one dotted, ``options.dest``):
    a grant pins those it does not match with its pattern (a second path of the call is not left open)."""
    files: dict[str, tuple[int, int] | None] = Field(default_factory=dict)
    """Each resolved path argument -> ``(st_dev, st_ino)`` of the regular file there when deciding,
    ``None`` when there was none: the built-in file tools refuse to read another file under that
    name (one renamed over it, or a hard link to a credential made after the decision)."""

    @property
    def rule_id(self) -> str:
        """``file:line`` of the deciding rule, or ``no-rule-matched``."""
        return str(self.rule) if self.rule is not None else NO_RULE


class ApprovalStatus(StrEnum):
    """Where a request to a person stands: the one state enum of the queue and of its answers.

    ``PENDING`` exists only in the queue; an :class:`ApprovalResult` is never pending.
    """

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"


class ApprovalRequest(FrozenModel):
    """What an approver is asked: serialisable, so it can wait in a queue."""

    call: ToolCall
    decision: Decision
    timeout_s: float
    requested_at: datetime = Field(default_factory=_now)


class ApprovalResult(FrozenModel):
    """A person's (or a stand-in's) answer."""

    status: ApprovalStatus
    approver: str
    channel: str
    reason: str | None = None
    edited_arguments: dict[str, Any] | None = None
    scope: str | None = None
    waited_s: float = 0.0

    @field_validator("status")
    @classmethod
    def _answered(cls, status: ApprovalStatus) -> ApprovalStatus:
        if status is ApprovalStatus.PENDING:
            raise ValueError("an answer cannot be pending")
        return status

    @property
    def approved(self) -> bool:
        return self.status is ApprovalStatus.APPROVED


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

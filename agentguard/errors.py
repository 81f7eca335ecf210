"""Typed errors that carry a stable code and the data an audit record needs.

Every error agentguard raises derives from :class:`AgentGuardError`. ``code`` is a
stable dotted string (it lands in the audit log and in tool-error results), ``data``
is a JSON-able mapping with the specifics.

    AgentGuardError
    ├── ConfigError                 config.invalid
    ├── PolicyError                 policy.invalid      (bad model/policy file: file, line)
    ├── CallRejected                (the call did not run)
    │   ├── UnknownTool             call.unknown_tool
    │   ├── InvalidArguments        call.invalid_arguments
    │   ├── PolicyDenied            policy.denied
    │   ├── VerdictChanged          policy.verdict_changed (re-decided after an approval: changed)
    │   ├── ApprovalDenied          approval.denied
    │   └── ApprovalTimeout         approval.timeout
    ├── ToolFailed                  tool.failed         (the tool ran and raised)
    ├── SandboxError                sandbox.error
    ├── ApprovalError               approval.error      (the approval channel failed)
    └── AuditError                  audit.error
        └── AuditIntegrityError     audit.tampered
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AgentGuardError",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalTimeout",
    "AuditError",
    "AuditIntegrityError",
    "CallRejected",
    "ConfigError",
    "InvalidArguments",
    "PolicyDenied",
    "PolicyError",
    "SandboxError",
    "ToolFailed",
    "UnknownTool",
    "VerdictChanged",
]


class AgentGuardError(Exception):
    """Base error: a human message, a stable ``code`` and structured ``data``."""

    code: ClassVar[str] = "agentguard.error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The error as an audit/JSON field: ``{"code", "message", "data"}``."""
        return {"code": self.code, "message": self.message, "data": _jsonable(self.data)}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class ConfigError(AgentGuardError):
    """A settings file, environment variable or flag is invalid."""

    code = "config.invalid"


class PolicyError(AgentGuardError):
    """A model or policy file cannot be loaded; ``data`` names ``file`` and ``line``."""

    code = "policy.invalid"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, **data: Any):
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}", file=file, line=line, problem=message, **data)
        self.file = file
        self.line = line


class CallRejected(AgentGuardError):
    """The call was refused before the tool ran. The tool's caller sees this."""

    code = "call.rejected"


class UnknownTool(CallRejected):
    code = "call.unknown_tool"


class InvalidArguments(CallRejected):
    code = "call.invalid_arguments"


class PolicyDenied(CallRejected):
    """The policy said deny; ``data`` has ``rule`` and ``reason``."""

    code = "policy.denied"


class VerdictChanged(CallRejected):
    """After an approval the call was decided again and the verdict (or the resolved arguments)
    changed: e.g. the approved file became a symlink into a denied directory while the person
    looked. ``data`` has ``approved`` and ``current`` (effect, rule, reason, arguments)."""

    code = "policy.verdict_changed"


class ApprovalDenied(CallRejected):
    """A person (or the fail-closed default) denied the call; ``data`` has ``reason``."""

    code = "approval.denied"


class ApprovalTimeout(CallRejected):
    code = "approval.timeout"


class ToolFailed(AgentGuardError):
    """The tool ran and raised; the original exception is ``__cause__``."""

    code = "tool.failed"


class SandboxError(AgentGuardError):
    code = "sandbox.error"


class ApprovalError(AgentGuardError):
    code = "approval.error"


class AuditError(AgentGuardError):
    code = "audit.error"


class AuditIntegrityError(AuditError):
    code = "audit.tampered"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _jsonable(dump(mode="json"))
    return str(value)

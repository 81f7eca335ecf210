"""agentguard: a tool-permission sandbox runtime for AI agents.

Every tool call is decided by Casbin policy (allow / ask / deny), approved by a person when the
rule says ask, run (code in a single-use Docker sandbox), and written to a hash-chained audit log.
"""

from agentguard.errors import (
    AgentGuardError,
    ApprovalDenied,
    ApprovalError,
    ApprovalTimeout,
    AuditError,
    AuditIntegrityError,
    CallRejected,
    ConfigError,
    InvalidArguments,
    PolicyDenied,
    PolicyError,
    SandboxError,
    ToolFailed,
    UnknownTool,
    VerdictChanged,
)
from agentguard.guard import Guard, current_call
from agentguard.models import (
    ApprovalRequest,
    ApprovalResult,
    ApprovalStatus,
    Decision,
    Effect,
    ExecutionResult,
    RuleRef,
    ToolCall,
)
from agentguard.pipeline import Approver, AuditSink, PolicyDecider
from agentguard.settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "AgentGuardError",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalTimeout",
    "Approver",
    "AuditError",
    "AuditIntegrityError",
    "AuditSink",
    "CallRejected",
    "ConfigError",
    "Decision",
    "Effect",
    "ExecutionResult",
    "Guard",
    "InvalidArguments",
    "PolicyDecider",
    "PolicyDenied",
    "PolicyError",
    "RuleRef",
    "SandboxError",
    "Settings",
    "ToolCall",
    "ToolFailed",
    "UnknownTool",
    "VerdictChanged",
    "__version__",
    "current_call",
    "load_settings",
]

"""agentguard: a tool-permission sandbox runtime for AI agents.

Every tool call is decided by Casbin policy (allow / ask / deny), approved by a person when the
rule says ask, run (code in a single-use Docker sandbox), and written to a hash-chained audit log.
"""

from agentguard.context import current_call
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
from agentguard.guard import Guard
from agentguard.models import (
    ApprovalRequest,
    ApprovalResult,
    ApprovalStatus,
    Decision,
    Effect,
    RuleRef,
    ToolCall,
)
from agentguard.pipeline import (
    Approver,
    AsyncApprover,
    AuditSink,
    Closeable,
    PolicyDecider,
    RefreshablePolicy,
)
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
    "AsyncApprover",
    "AuditError",
    "AuditIntegrityError",
    "AuditSink",
    "CallRejected",
    "Closeable",
    "ConfigError",
    "Decision",
    "Effect",
    "Guard",
    "InvalidArguments",
    "PolicyDecider",
    "PolicyDenied",
    "PolicyError",
    "RefreshablePolicy",
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

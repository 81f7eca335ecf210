"""The tamper-evident audit log: a hash-chained JSON Lines file, one record per pipeline stage.

    with AuditLog(settings.audit_path) as log:
        log.record("call.received", call_id=..., agent=..., tool=..., arguments={...})
    report = verify(settings.audit_path)   # report.ok, report.first_bad, report.torn_tail

See docs/audit.md for the record format and what the chain does and does not detect.
"""

from agentguard.audit._acknowledge import acknowledge
from agentguard.audit._chain import GENESIS, checkpoint_path
from agentguard.audit._log import AuditLog
from agentguard.audit._read import CallIndex, CallInfo, follow, parse_since, query, read_last, read_records
from agentguard.audit._recover import ACKNOWLEDGED, RECOVERED, SEGMENT
from agentguard.audit._redact import REDACTED, redact, redact_processor, vouch
from agentguard.audit._verify import (
    Acknowledgement,
    BadRecord,
    CheckpointState,
    CheckpointStatus,
    Segment,
    TornTail,
    VerifyReport,
    verify,
)

__all__ = [
    "ACKNOWLEDGED",
    "GENESIS",
    "RECOVERED",
    "REDACTED",
    "SEGMENT",
    "Acknowledgement",
    "AuditLog",
    "BadRecord",
    "CallIndex",
    "CallInfo",
    "CheckpointState",
    "CheckpointStatus",
    "Segment",
    "TornTail",
    "VerifyReport",
    "acknowledge",
    "checkpoint_path",
    "follow",
    "parse_since",
    "query",
    "read_last",
    "read_records",
    "redact",
    "redact_processor",
    "verify",
    "vouch",
]

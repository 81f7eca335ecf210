"""The tamper-evident audit log: a hash-chained JSON Lines file, one record per pipeline stage.

    with AuditLog(settings.audit_path) as log:
        log.record("call.received", call_id=..., agent=..., tool=..., arguments={...})
    report = verify(settings.audit_path)   # report.ok, report.first_bad, report.torn_tail

With ``database_url`` set, :class:`PostgresAuditLog` keeps the same lines in one database chain
for every host (``open_audit(settings)`` picks). See docs/audit.md and docs/deployment.md for the
record format and what the chain does and does not detect.
"""

from agentguard.audit._acknowledge import acknowledge
from agentguard.audit._chain import GENESIS, checkpoint_path
from agentguard.audit._log import AuditLog
from agentguard.audit._open import open_audit
from agentguard.audit._pg import (
    DatabaseVerifyReport,
    PostgresAuditLog,
    follow_database,
    read_database,
    read_database_last,
    verify_database,
)
from agentguard.audit._read import (
    CallIndex,
    CallInfo,
    filter_records,
    follow,
    parse_since,
    query,
    read_last,
    read_records,
)
from agentguard.audit._recover import ACKNOWLEDGED, RECOVERED, SEGMENT
from agentguard.audit._redact import REDACTED, redact, redact_processor, vouch
from agentguard.audit._verify import (
    Acknowledgement,
    BadRecord,
    CheckpointState,
    CheckpointStatus,
    ExportedHead,
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
    "DatabaseVerifyReport",
    "ExportedHead",
    "PostgresAuditLog",
    "Segment",
    "TornTail",
    "VerifyReport",
    "acknowledge",
    "checkpoint_path",
    "filter_records",
    "follow",
    "follow_database",
    "open_audit",
    "parse_since",
    "query",
    "read_database",
    "read_database_last",
    "read_last",
    "read_records",
    "redact",
    "redact_processor",
    "verify",
    "verify_database",
    "vouch",
]

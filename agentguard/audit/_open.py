"""Which audit log the settings mean: the JSON Lines file in the home, or the shared database."""

from __future__ import annotations

from pathlib import Path

from agentguard.audit._log import AuditLog
from agentguard.pipeline import AuditSink
from agentguard.settings import Settings

__all__ = ["database_witness", "open_audit"]


def database_witness(settings: Settings) -> Path:
    """This host's witness of the database chain (the last row it appended), beside the file log."""
    return settings.audit_path.with_name("audit-db.witness")


def open_audit(settings: Settings) -> AuditSink:
    """The audit sink for ``settings``: with ``database_url``, the database's chain (plus the per-host
    file copy when ``audit.local_copy``); else the file ``settings.audit_path``."""
    local = None
    if settings.database_url is None or settings.audit.local_copy:
        local = AuditLog(
            settings.audit_path, durability=settings.audit.durability, batch_size=settings.audit.batch_size
        )
    if settings.database_url is None:
        assert local is not None
        return local
    from agentguard.audit._pg import PostgresAuditLog

    try:
        return PostgresAuditLog(
            settings.database_url,
            local=local,
            durability=settings.audit.durability,
            batch_size=settings.audit.batch_size,
            witness=database_witness(settings),
        )
    except BaseException:
        if local is not None:
            local.close()
        raise

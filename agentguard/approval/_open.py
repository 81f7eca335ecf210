"""Which store the settings mean: SQLite in the home, or PostgreSQL when ``database_url`` is set."""

from __future__ import annotations

from typing import Any

from agentguard.approval._pg_source import PostgresGrantSource
from agentguard.approval._source import SqliteGrantSource
from agentguard.approval._store import SqliteApprovalStore
from agentguard.approval._store_api import ApprovalStore
from agentguard.pipeline import AuditSink
from agentguard.settings import Settings

__all__ = ["open_store", "settings_grant_source"]


def open_store(
    settings: Settings, *, audit: AuditSink | None = None, readonly: bool = False, **options: Any
) -> ApprovalStore:
    """The approval store ``settings`` describe (``options`` go to the store's constructor)."""
    if settings.database_url is not None:
        from agentguard.approval._pg_store import PostgresApprovalStore

        return PostgresApprovalStore(settings.database_url, audit=audit, readonly=readonly, **options)
    return SqliteApprovalStore(settings.home, audit=audit, readonly=readonly, **options)


def settings_grant_source(settings: Settings) -> SqliteGrantSource | PostgresGrantSource:
    """The grants the policy engine enforces, from the store ``settings`` describe."""
    if settings.database_url is not None:
        return PostgresGrantSource(settings.database_url)
    return SqliteGrantSource(settings.home)

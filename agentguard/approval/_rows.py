"""The approval store's database layout, and turning its rows into records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from agentguard.approval._records import Grant, GrantScope, QueuedRequest, RequestState
from agentguard.models import ApprovalRequest
from agentguard.owner import Owner

__all__ = [
    "DB_FILE",
    "SCHEMA",
    "SCHEMA_META",
    "SCHEMA_VERSION",
    "dt",
    "dumps",
    "grant_values",
    "row_to_grant",
    "row_to_request",
    "ts",
]


DB_FILE = "approvals.db"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    request TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    deadline REAL NOT NULL,
    owner_pid INTEGER NOT NULL,
    owner_host TEXT NOT NULL,
    owner_start TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    approver TEXT,
    channel TEXT,
    reason TEXT,
    edited TEXT,
    scope TEXT,
    grant_id TEXT,
    resolved_at REAL
);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status, seq);
CREATE TABLE IF NOT EXISTS grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    scope TEXT NOT NULL,
    condition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    request_id TEXT,
    revoked_at REAL,
    revoked_by TEXT
);
-- Audit records owed for state changes, written in the same transaction as the change: whichever
-- store with an audit log opens the database next hands them over, so a kill -9 between the commit
-- and the audit write (or a store with no audit log) never loses one.
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('grants_version', '0');
"""


SCHEMA_META = f"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');"  # noqa: S608


def ts(moment: datetime) -> float:
    return moment.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _optional(row: Any, column: str) -> Any:
    """A column only the PostgreSQL tables have (a ``sqlite3.Row``'s ``in`` looks at values, not names)."""
    names = row.keys()
    return row[column] if column in names else None


def row_to_grant(row: Any) -> Grant:
    """A grant from a row of either database (``sqlite3.Row`` or a psycopg dict row)."""
    return Grant(
        id=row["id"],
        agent=row["agent"],
        tool=row["tool"],
        scope=GrantScope(row["scope"]),
        condition=row["condition"],
        created_by=row["created_by"],
        created_at=dt(row["created_at"]) or datetime.fromtimestamp(0, UTC),
        expires_at=dt(row["expires_at"]),
        request_id=row["request_id"],
        revoked_at=dt(row["revoked_at"]),
        revoked_by=row["revoked_by"],
        host_role=_optional(row, "host_role"),
    )


def grant_values(grant: Grant) -> tuple[Any, ...]:
    """The values of a new grant's row, in the column order both databases insert: id, agent, tool,
    scope, condition, created_by, created_at, expires_at, request_id (``row_to_grant`` reads them)."""
    return (
        grant.id,
        grant.agent,
        grant.tool,
        grant.scope.value,
        grant.condition,
        grant.created_by,
        ts(grant.created_at),
        ts(grant.expires_at) if grant.expires_at else None,
        grant.request_id,
    )


def row_to_request(row: Any) -> QueuedRequest:
    """A queued request from its row (an ``sqlite3.Row`` or a PostgreSQL dict row: same columns)."""
    return QueuedRequest(
        id=row["id"],
        request=ApprovalRequest.model_validate_json(row["request"]),
        state=RequestState(row["status"]),
        owner=Owner(pid=row["owner_pid"], host=row["owner_host"], start=row["owner_start"]),
        submitted_at=dt(row["submitted_at"]) or datetime.fromtimestamp(0, UTC),
        deadline=dt(row["deadline"]) or datetime.fromtimestamp(0, UTC),
        approver=row["approver"],
        channel=row["channel"],
        reason=row["reason"],
        edited_arguments=orjson.loads(row["edited"]) if row["edited"] else None,
        scope=row["scope"],
        grant_id=row["grant_id"],
        resolved_at=dt(row["resolved_at"]),
        db_role=_optional(row, "db_role"),
    )

"""The shared control plane's database: PostgreSQL connections, change notification, schema migrations.

Used by the approval store, the grant source and the audit log when ``database_url`` is set; without
it agentguard keeps everything in SQLite and files under its home. psycopg is imported here only, on
first use, so the embedded default needs none of it (``pip install 'agentguard[postgres]'``).
"""

from agentguard.database._connect import Database, DatabaseError, Listener, redact_url
from agentguard.database._migrate import (
    SCHEMA_VERSION,
    Migration,
    check_schema,
    migrations,
    schema_version,
    upgrade,
)
from agentguard.database._roles import roles_sql

__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "DatabaseError",
    "Listener",
    "Migration",
    "check_schema",
    "migrations",
    "redact_url",
    "roles_sql",
    "schema_version",
    "upgrade",
]

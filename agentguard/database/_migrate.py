"""Versioned schema migrations: ordered SQL files, applied once each, recorded in ``agentguard_schema``.

``agentguard db upgrade`` applies what is missing, in one transaction under an advisory lock (two
upgrades at once cannot both apply a step). Every process checks the version on start: a database
older than the code says to run the upgrade; one newer than the code is refused (this agentguard
does not know what the newer schema means, and a security decision fails closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from agentguard.database._connect import Database, DatabaseError

__all__ = ["SCHEMA_VERSION", "Migration", "check_schema", "migrations", "schema_version", "upgrade"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x61677364  # pg_advisory_xact_lock key for migrations ("agsd")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migrations shipped with this agentguard, in order (numbered 0001, 0002, ... without gaps)."""
    found: list[Migration] = []
    for entry in resources.files("agentguard.database").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise DatabaseError("agentguard's schema migrations are not numbered 1..N without gaps")
    return found


SCHEMA_VERSION = len(migrations())

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS agentguard_schema (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def _current(conn: Any) -> int:
    exists = conn.execute("SELECT to_regclass('agentguard_schema') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM agentguard_schema").fetchone()
    return int(row[0])


def schema_version(db: Database) -> int:
    """The schema version the database is at (0: never upgraded)."""
    with db.connection() as conn:
        return _current(conn)


def check_schema(db: Database) -> int:
    """The database's schema version, if this code can use it; else a ``DatabaseError`` saying what to do."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise DatabaseError(
            f"{db.label}: the database schema is version {found}, newer than this agentguard knows "
            f"({SCHEMA_VERSION}); upgrade agentguard on this host before using that database",
            schema=found,
            supported=SCHEMA_VERSION,
        )
    if found < SCHEMA_VERSION:
        raise DatabaseError(
            f"{db.label}: the database schema is version {found}, this agentguard needs {SCHEMA_VERSION}; "
            "run `agentguard db upgrade`",
            schema=found,
            supported=SCHEMA_VERSION,
        )
    return found


def upgrade(db: Database) -> list[Migration]:
    """Apply the missing migrations in one transaction; the ones applied (none if up to date)."""
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_CREATE_VERSION_TABLE)
        found = _current(conn)
        if found > SCHEMA_VERSION:
            raise DatabaseError(
                f"{db.label}: the database schema is version {found}, newer than this agentguard knows "
                f"({SCHEMA_VERSION}); refusing to touch it",
                schema=found,
            )
        applied = [m for m in migrations() if m.version > found]
        for migration in applied:
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO agentguard_schema (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return applied

"""Versioned schema migrations: ordered SQL files, applied once each, recorded in ``agentguard_schema``.

``agentguard db upgrade`` applies what is missing, in one transaction under an advisory lock (two
upgrades at once cannot both apply a step). Its lock waits are bounded: any role may hold that lock,
or a table the upgrade alters (a read in a transaction left open), and while the upgrade waits for a
table every later session queues behind it, so a wait that runs out undoes the upgrade and names the
holders. Every process checks the version on start: a database
older than the code says to run the upgrade; one newer than the code is refused (this agentguard
does not know what the newer schema means, and a security decision fails closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from agentguard.database._connect import Database, DatabaseError
from agentguard.database._locks import take_advisory_lock

__all__ = ["SCHEMA_VERSION", "Migration", "check_schema", "migrations", "schema_version", "upgrade"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x61677364  # pg_advisory_xact_lock key for migrations ("agsd")
# Other sessions holding a lock on a relation of this database (what an upgrade's ALTER waits for).
_TABLE_HOLDERS = (
    "SELECT DISTINCT a.usename, l.pid FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a"
    " ON a.pid = l.pid WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()"
    " AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"
    " ORDER BY l.pid LIMIT 5"
)


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


def upgrade(db: Database, *, lock_wait_s: float = 5.0) -> list[Migration]:
    """Apply the missing migrations in one transaction; the ones applied (none if up to date). A lock
    wait longer than ``lock_wait_s`` applies none and raises ``DatabaseError`` naming the holders."""
    with db.transaction() as conn:
        take_advisory_lock(conn, _LOCK_KEY, wait_s=lock_wait_s, what="schema upgrade lock")
        conn.execute(_CREATE_VERSION_TABLE)
        found = _current(conn)
        if found > SCHEMA_VERSION:
            raise DatabaseError(
                f"{db.label}: the database schema is version {found}, newer than this agentguard knows "
                f"({SCHEMA_VERSION}); refusing to touch it",
                schema=found,
            )
        applied = [m for m in migrations() if m.version > found]
        try:
            with conn.transaction():  # a savepoint: the holders can be read after a wait runs out
                _apply(conn, applied)
        except _lock_not_available() as exc:
            holders = conn.execute(_TABLE_HOLDERS).fetchall()
            named = ", ".join(f"database role {role} (server process {pid})" for role, pid in holders)
            raise DatabaseError(
                f"{db.label}: the schema upgrade waited more than {lock_wait_s:g}s for a table lock held by"
                f" {named or 'another session'}; nothing was applied. End that session's transaction (or"
                " pg_terminate_backend it) and run the upgrade again",
                held_by=[role for role, _ in holders],
                wait_s=lock_wait_s,
            ) from exc
    return applied


def _lock_not_available() -> type[Exception]:
    import psycopg

    return psycopg.errors.LockNotAvailable


def _apply(conn: Any, applied: list[Migration]) -> None:
    for migration in applied:
        conn.execute(migration.sql)
        conn.execute(
            "INSERT INTO agentguard_schema (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )

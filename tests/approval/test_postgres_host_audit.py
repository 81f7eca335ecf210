"""One host cannot break the global audit chain for the others. A host may append rows naming itself,
but only as the next link: a row with the largest ``seq`` there is (every later append overflowed),
one that does not link to the head, does not hash to its stated hash, or leaves a gap is refused, so
every other host's appends keep working and ``audit verify`` stays whole. Real PostgreSQL roles."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from agentguard.audit import PostgresAuditLog, verify_database
from agentguard.audit._chain import GENESIS, canonical, seal
from agentguard.database import Database

from .test_postgres_hosts import Fleet, fleet  # noqa: F401 - the fixture

_INSERT = "INSERT INTO ag_audit (seq, hash, line, event, host) VALUES (%s, %s, %s, 'x', 'host-a')"


def _head(url: str) -> tuple[int, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT seq, hash FROM ag_audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (-1, GENESIS)


def _sealed(seq: int, prev: str, **fields: object) -> tuple[int, str, str]:
    line, digest = seal(
        canonical({"event": "x", "ts": "2026-01-01T00:00:00Z", "seq": seq, "prev": prev, **fields})
    )
    return seq, digest, line[:-1].decode()


def _attacks(seq: int, prev: str) -> dict[str, tuple[int, str, str]]:
    """Rows host A might insert by hand after the head ``(seq, prev)``; none is the next link."""
    nxt, digest, line = _sealed(seq + 1, prev)
    _, later_digest, later_line = _sealed(seq + 7, prev)
    return {
        "largest seq": _sealed(2**63 - 1, prev),  # every later append would overflow
        "gap": _sealed(seq + 50, prev),
        "wrong prev": _sealed(seq + 1, "f" * 64),
        "stated hash not the line's": (nxt, "e" * 64, line.replace(digest, "e" * 64)),
        "line edited after sealing": (nxt, digest, line.replace('"event":"x"', '"event":"y"')),
        "seq in the line differs": (nxt, later_digest, later_line),
    }


@pytest.mark.parametrize(
    "attack",
    [
        "largest seq",
        "gap",
        "wrong prev",
        "stated hash not the line's",
        "line edited after sealing",
        "seq in the line differs",
    ],
)
def test_a_host_cannot_break_the_chain_for_the_others(fleet: Fleet, attack: str) -> None:  # noqa: F811
    a = PostgresAuditLog(fleet.a)
    try:
        a.record("tool.allowed", tool="shell.run")
    finally:
        a.close()
    seq, prev = _head(fleet.owner)
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        with contextlib.suppress(psycopg.Error):  # refused: what this test wants
            conn.execute(_INSERT, _attacks(seq, prev)[attack])
        # the next link itself is still the host's to append, by hand too
        head_seq, head_hash = _head(fleet.owner)
        conn.execute(_INSERT, _sealed(head_seq + 1, head_hash))
    b = PostgresAuditLog(fleet.b)
    try:
        b.record("tool.allowed", tool="files.read")  # host B's appends keep working
    finally:
        b.close()
    db = Database(fleet.owner, max_size=1)
    try:
        report = verify_database(db)
    finally:
        db.close()
    assert report.ok, report
    assert report.records_verified == 3


def test_the_migration_takes_the_appenders_chain_lock() -> None:
    from agentguard.audit._pg import _CHAIN_LOCK
    from agentguard.database import migrations

    (step,) = [m for m in migrations() if m.name == "audit_links"]
    assert f"pg_advisory_xact_lock({_CHAIN_LOCK})" in step.sql

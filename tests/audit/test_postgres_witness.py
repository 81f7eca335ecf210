"""Rows cut off the end of the database's chain (by someone who can switch the append-only
triggers off) leave a shorter chain that verifies; the host's witness notices. A real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from agentguard.audit import PostgresAuditLog, verify_database
from agentguard.audit._pg import read_witness
from agentguard.database import Database
from agentguard.errors import AuditError
from agentguard.settings import Durability


def _append(url: str, n: int, witness: Path, durability: Durability = Durability.FSYNC) -> None:
    with PostgresAuditLog(url, durability=durability, batch_size=4, witness=witness) as log:
        for i in range(n):
            log.record("test.event", i=i)


@pytest.mark.parametrize("durability", [Durability.FSYNC, Durability.BATCH])
def test_rows_cut_off_the_end_are_noticed_by_the_hosts_witness(
    pg_url: str, tmp_path: Path, durability: Durability
) -> None:
    witness = tmp_path / "audit-db.witness"
    _append(pg_url, 6, witness, durability)
    assert read_witness(witness) is not None
    assert read_witness(witness)[0] == 5  # type: ignore[index]
    db = Database(pg_url, max_size=1)
    try:
        assert verify_database(db, witness=witness).ok
        with psycopg.connect(pg_url, autocommit=True) as owner:
            owner.execute("ALTER TABLE ag_audit DISABLE TRIGGER USER")
            owner.execute("DELETE FROM ag_audit WHERE seq >= 4")
        assert verify_database(db).ok  # without the witness the shorter chain looks whole
        report = verify_database(db, witness=witness)
        assert (report.ok, report.first_bad_seq, report.records_verified) == (False, 4, 4)
        assert "cut off the end" in (report.reason or "")
    finally:
        db.close()


def test_a_replaced_tail_is_noticed_too(pg_url: str, tmp_path: Path) -> None:
    """Cut the end and append other records in its place: same seq, different hash."""
    witness = tmp_path / "audit-db.witness"
    _append(pg_url, 4, witness)
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute("ALTER TABLE ag_audit DISABLE TRIGGER USER")
        owner.execute("DELETE FROM ag_audit WHERE seq >= 2")
    _append(pg_url, 2, tmp_path / "elsewhere.witness")  # a writer elsewhere refills seq 2 and 3
    db = Database(pg_url, max_size=1)
    try:
        report = verify_database(db, witness=witness)
        assert (report.ok, report.first_bad_seq) == (False, 3)
        assert "not the one this host appended" in (report.reason or "")
    finally:
        db.close()


def test_a_malformed_witness_is_a_clear_error(pg_url: str, tmp_path: Path) -> None:
    witness = tmp_path / "audit-db.witness"
    witness.write_text("{not json")
    db = Database(pg_url, max_size=1)
    try:
        with pytest.raises(AuditError, match=r"audit-db\.witness"):
            verify_database(db, witness=witness)
    finally:
        db.close()

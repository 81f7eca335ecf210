"""The audit log in PostgreSQL: one chain for many writers, tamper evidence, the writer role's
privileges, the per-host copy, and the CLI reading the database. A real server; never mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from agentguard.audit import (
    AuditLog,
    PostgresAuditLog,
    open_audit,
    read_database,
    read_records,
    verify,
    verify_database,
)
from agentguard.database import Database, roles_sql
from agentguard.errors import AuditError
from agentguard.settings import Durability, load_settings

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from agentguard.audit import PostgresAuditLog
    from agentguard.settings import Durability
    log = PostgresAuditLog({url!r}, durability=Durability({durability!r}), batch_size=7)
    for i in range({n}):
        log.record("call.received", call_id="w{w}-" + str(i), writer_no={w}, i=i)
    log.close()
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("durability", ["fsync", "batch"])
def test_many_writer_processes_make_one_intact_chain(pg_url: str, durability: str) -> None:
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER.format(repo=str(REPO), url=pg_url, n=40, w=w, durability=durability),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    assert [w.communicate(timeout=120)[0].strip() for w in writers] == ["done"] * 4
    db = Database(pg_url, max_size=1)
    try:
        report = verify_database(db)
        assert report.ok, report
        assert report.records_verified == 160
        records = list(read_database(db))
    finally:
        db.close()
    assert [r["seq"] for r in records] == list(range(160))
    for w in range(4):  # each writer's records, all there, in its own order
        mine = [r["i"] for r in records if r["writer_no"] == w]
        assert mine == list(range(40))


def _append(url: str, n: int) -> None:
    with PostgresAuditLog(url) as log:
        for i in range(n):
            log.record("policy.decided", call_id=f"c{i}", effect="allow", i=i)


def test_edits_and_deletions_by_the_owner_are_refused_and_detected(pg_url: str) -> None:
    _append(pg_url, 5)
    with psycopg.connect(pg_url, autocommit=True) as owner:
        for statement in (
            "UPDATE ag_audit SET line = line WHERE seq = 2",
            "DELETE FROM ag_audit WHERE seq = 2",
            "TRUNCATE ag_audit",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                owner.execute(statement)
        # Someone who can switch the triggers off (a superuser) can still change rows: verify sees it.
        owner.execute("ALTER TABLE ag_audit DISABLE TRIGGER USER")
        owner.execute("UPDATE ag_audit SET line = replace(line, '\"allow\"', '\"deny\"') WHERE seq = 2")
    db = Database(pg_url, max_size=1)
    try:
        report = verify_database(db)
        assert not report.ok
        assert (report.first_bad_seq, report.records_verified) == (2, 2)
        assert "changed" in (report.reason or "")
        with psycopg.connect(pg_url, autocommit=True) as owner:
            owner.execute("DELETE FROM ag_audit WHERE seq = 2")
        report = verify_database(db)
        assert (report.ok, report.first_bad_seq) == (False, 2)
        assert "missing" in (report.reason or "")
    finally:
        db.close()


def test_the_writer_role_appends_but_cannot_alter_rows(pg_url: str) -> None:
    role, approver = f"agw_{uuid.uuid4().hex[:10]}", f"agp_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {role} LOGIN")
        owner.execute(f"CREATE ROLE {approver} LOGIN")
        owner.execute(roles_sql(agent=role, approver=approver))
        # Even with the triggers off, the writer role's lack of privileges stops it.
        owner.execute("ALTER TABLE ag_audit DISABLE TRIGGER USER")
    try:
        as_writer = pg_url.replace("://postgres@", f"://{role}@")
        assert as_writer != pg_url
        _append(as_writer, 3)
        with psycopg.connect(as_writer, autocommit=True) as writer:
            for statement in ("UPDATE ag_audit SET line = line", "DELETE FROM ag_audit", "TRUNCATE ag_audit"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    writer.execute(statement)
        db = Database(pg_url, max_size=1)
        try:
            report = verify_database(db)
        finally:
            db.close()
        assert report.ok
        assert report.records_verified == 3
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (role, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")


def test_the_local_copy_keeps_the_record_when_the_database_write_fails(pg_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={"home": str(tmp_path / "home"), "database_url": pg_url, "audit.durability": "fsync"},
    )
    sink = open_audit(settings)
    assert isinstance(sink, PostgresAuditLog)
    sink.record("call.received", call_id="one")
    server = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as admin:  # the database goes away under the writer
        admin.execute(f"DROP DATABASE {pg_url.rsplit('/', 1)[1]} WITH (FORCE)")
    with pytest.raises(AuditError, match="cannot append"):
        sink.record("call.received", call_id="two")
    sink.close()
    local = [r["call_id"] for r in read_records(settings.audit_path)]
    assert local == ["one", "two"]  # audited on the host, and the caller was told
    assert verify(settings.audit_path).ok


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentguard.cli", "--database-url", url, "audit", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_cli_verify_query_and_tail_read_the_database(pg_url: str, tmp_path: Path) -> None:
    _append(pg_url, 4)
    done = _cli(pg_url, "verify")
    assert done.returncode == 0, done.stderr
    assert "intact: 4 records" in done.stdout
    found = _cli(pg_url, "query", "--call-id", "c2", "--json")
    assert [json.loads(line)["i"] for line in found.stdout.splitlines()] == [2]
    last = _cli(pg_url, "tail", "-n", "2", "--json")
    assert [json.loads(line)["seq"] for line in last.stdout.splitlines()] == [2, 3]
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentguard.cli",
            "--database-url",
            pg_url,
            "audit",
            "tail",
            "-n",
            "0",
            "-f",
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert follower.stdout is not None

        def listening() -> bool:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'agentguard-listen-agentguard_audit'"
                ).fetchone()
            return bool(row and row[0])

        wait_until(listening, what="tail -f to listen")  # it noted the head before listening
        with PostgresAuditLog(pg_url) as log:
            log.record("call.received", call_id="followed")
        assert json.loads(follower.stdout.readline())["call_id"] == "followed"
    finally:
        follower.kill()
        follower.wait(10)
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute("ALTER TABLE ag_audit DISABLE TRIGGER USER")
        owner.execute("DELETE FROM ag_audit WHERE seq = 1")
    tampered = _cli(pg_url, "verify")
    assert tampered.returncode == 1
    assert "TAMPERED" in tampered.stderr
    assert "seq 1" in tampered.stderr


def test_file_log_unchanged_without_a_database_url(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"home": str(tmp_path / "home")})
    sink = open_audit(settings)
    assert isinstance(sink, AuditLog)
    assert sink.durability is Durability.FSYNC
    sink.close()

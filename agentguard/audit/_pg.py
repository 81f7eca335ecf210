"""The audit log in PostgreSQL: every host's records in one hash chain, plus an optional local copy.

Each row of ``ag_audit`` holds one line in exactly the JSON Lines format (``_chain``): canonical body
with ``seq`` and ``prev``, sealed by its SHA-256. The chain is global and serialised: an append takes
``pg_advisory_xact_lock``, reads the head, links, inserts and commits, so concurrent writers on many
hosts queue for a few hundred microseconds each instead of forking the chain (docs/deployment.md has
the measured rate and why not one chain per writer). ``record`` returns only after the commit: a
record that was acknowledged is in the database. With ``local``, each record is first written to a
per-host JSON Lines log, so a call whose database write fails is still audited on the host (and the
failure raises ``AuditError``: the guard then fails the call closed).
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
import structlog
from pydantic import BaseModel
from structlog.typing import EventDict

from agentguard.audit._chain import (
    GENESIS,
    RESERVED,
    LineFormatError,
    canonical,
    create_fresh,
    seal,
    split_line,
)
from agentguard.audit._log import _OWN_EVENTS, _free_key
from agentguard.audit._redact import redact_processor
from agentguard.database import Database, DatabaseError, Listener, check_schema
from agentguard.database._locks import LockWaitTimeout, take_advisory_lock
from agentguard.errors import AgentGuardError, AuditError
from agentguard.pipeline import AuditSink
from agentguard.settings import Durability

__all__ = [
    "AUDIT_CHANNEL",
    "DatabaseVerifyReport",
    "PostgresAuditLog",
    "follow_database",
    "read_database",
    "read_database_last",
    "verify_database",
]


@runtime_checkable
class _Flushable(Protocol):
    def flush(self) -> None: ...


AUDIT_CHANNEL = "agentguard_audit"
_CHAIN_LOCK = 0x61676175  # advisory lock key of the global chain ("agau")


class PostgresAuditLog:
    """:class:`agentguard.pipeline.AuditSink` appending to ``ag_audit`` (``agentguard db upgrade`` first).

    ``durability``: ``fsync`` commits each record before ``record`` returns; ``batch`` commits up to
    ``batch_size`` records at once (on ``flush``/``close`` too). ``local``: another sink (the host's
    ``AuditLog``) that gets every record first. ``lock_wait_s``: how long an append waits for the chain
    lock (twice: one retry) before it fails, naming the role holding it (any host can take it).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        database: Database | None = None,
        local: AuditSink | None = None,
        durability: Durability = Durability.FSYNC,
        batch_size: int = 64,
        witness: Path | None = None,
        lock_wait_s: float = 5.0,
    ) -> None:
        self._own_db = database is None
        self.lock_wait_s = lock_wait_s
        self.witness = witness
        self._witness_warned = False
        try:
            self.db = database if database is not None else Database(url or "", max_size=2)
        except DatabaseError as exc:
            raise AuditError(f"audit log: {exc}", **exc.data) from exc
        try:
            check_schema(self.db)
        except DatabaseError as exc:
            if self._own_db:
                self.db.close()
            raise AuditError(f"audit log: {exc}", **exc.data) from exc
        self.local = local
        self.durability = Durability(durability)
        self.batch_size = 1 if self.durability is Durability.FSYNC else max(batch_size, 1)
        self.writer = f"{socket.gethostname()}/{os.getpid()}"
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._pending: list[EventDict] = []
        self._closed = False
        self._prepare = (structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"), redact_processor)

    @property
    def label(self) -> str:
        return f"{self.db.label}#audit"

    def record(self, event: str, /, **fields: Any) -> None:
        """Append one record; returns once it is committed (fsync mode). Raises ``AuditError``."""
        if self._closed:
            raise AuditError(f"{self.label}: audit log is closed")
        if event in _OWN_EVENTS:
            event = f"{event}_"  # as the file log keeps them: only the log writes its own events
        if self.local is not None:
            self.local.record(event, **fields)
        safe = (
            {_free_key(k, fields): v for k, v in fields.items()}
            if RESERVED.intersection(fields)
            else dict(fields)
        )
        if "writer" not in safe:
            safe["writer"] = self.writer
        event_dict: EventDict = dict(safe)
        event_dict["event"] = event
        try:
            for processor in self._prepare:
                event_dict = processor(None, "info", event_dict)
        except Exception as exc:
            raise AuditError(f"{self.label}: cannot prepare audit record {event!r}: {exc}") from exc
        with self._lock:
            self._pending.append(event_dict)
            if len(self._pending) >= self.batch_size:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        batch = self._pending
        if self.durability is Durability.FSYNC:
            self._pending = []  # the caller is told by the raise below; batch mode keeps them to retry
        try:
            with self.db.transaction() as conn:
                self._chain_lock(conn)
                head = conn.execute("SELECT seq, hash FROM ag_audit ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (head[0] + 1, head[1]) if head else (0, GENESIS)
                rows = []
                for item in batch:
                    body = dict(item)
                    body["seq"] = seq
                    body["prev"] = prev
                    line, digest = seal(canonical(body))
                    call_id = body.get("call_id")
                    rows.append(
                        (
                            seq,
                            digest,
                            line[:-1].decode(),
                            str(body["event"]),
                            call_id if isinstance(call_id, str) else None,
                            self._host,
                        )
                    )
                    seq, prev = seq + 1, digest
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO ag_audit (seq, hash, line, event, call_id, host)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        rows,
                    )
                conn.execute("SELECT pg_notify(%s, %s)", (AUDIT_CHANNEL, str(seq - 1)))
        except AgentGuardError as exc:
            raise AuditError(f"{self.label}: cannot append {len(batch)} record(s): {exc}") from exc
        except Exception as exc:
            if self.db.is_error(exc):
                raise AuditError(f"{self.label}: cannot append {len(batch)} record(s): {exc}") from exc
            raise
        self._pending = []
        if self.witness is not None:
            try:
                write_witness(self.witness, seq - 1, prev)
            except AuditError as exc:  # the records are stored; only the truncation check is weaker
                if not self._witness_warned:
                    self._witness_warned = True
                    print(f"agentguard: warning: {exc}", file=sys.stderr)

    def _chain_lock(self, conn: Any) -> None:
        """The chain's lock, waited for at most ``lock_wait_s`` twice (a legitimate holder commits
        within milliseconds; one that does not is named in the error, and the append fails closed)."""
        try:
            take_advisory_lock(conn, _CHAIN_LOCK, wait_s=self.lock_wait_s, what="audit chain lock")
        except LockWaitTimeout:
            take_advisory_lock(conn, _CHAIN_LOCK, wait_s=self.lock_wait_s, what="audit chain lock")

    def flush(self) -> None:
        if isinstance(self.local, _Flushable):
            self.local.flush()
        with self._lock:
            self._flush_locked()

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        if self._closed:
            return
        try:
            with self._lock:
                self._flush_locked()
        finally:
            self._closed = True
            if self._own_db:
                self.db.close()

    def __enter__(self) -> PostgresAuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- reading ------------------------------------------------------------------------------------


def _decode(line: str) -> dict[str, Any]:
    record = orjson.loads(line)
    if not isinstance(record, dict):
        raise AuditError("an audit row is not a JSON object")
    return record


def read_database(db: Database, *, after: int = -1) -> Iterator[dict[str, Any]]:
    """Records with ``seq > after``, in chain order (read in pages, so a long log streams)."""
    while True:
        with db.connection() as conn:
            rows = conn.execute(
                "SELECT seq, line FROM ag_audit WHERE seq > %s ORDER BY seq LIMIT 5000", (after,)
            ).fetchall()
            conn.rollback()
        if not rows:
            return
        for seq, line in rows:
            yield _decode(line)
            after = seq


def read_database_last(db: Database, n: int) -> list[dict[str, Any]]:
    with db.connection() as conn:
        rows = conn.execute("SELECT line FROM ag_audit ORDER BY seq DESC LIMIT %s", (n,)).fetchall()
        conn.rollback()
    return [_decode(line) for (line,) in reversed(rows)]


def follow_database(db: Database, *, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """Records appended from now on, as they commit (woken by ``NOTIFY``, not polling)."""
    stop = stop or threading.Event()
    wake = threading.Event()
    with db.connection() as conn:  # the head first, then listen: a commit in between is read below
        head = conn.execute("SELECT coalesce(max(seq), -1) FROM ag_audit").fetchone()
        conn.rollback()
    after = int(head[0]) if head else -1
    listener = Listener(db, AUDIT_CHANNEL, wake.set)
    listener.start()
    try:
        while not stop.is_set():
            wake.clear()
            for record in read_database(db, after=after):
                after = int(record["seq"])
                yield record
            wake.wait(1.0)
    finally:
        listener.stop()


def write_witness(path: Path, seq: int, digest: str) -> None:
    """Remember, on this host, the last row this host appended (``seq``, hash).

    The database's append-only rules stop the writer roles, not a superuser: rows deleted off the
    end leave an intact shorter chain. A witness kept outside the database is what notices that, as
    the checkpoint does for the file log. Not fsynced: an older witness only checks less.
    """
    try:
        known = read_witness(path)
        if known is not None and known[0] >= seq:
            return  # another writer on this host got further
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        fd = create_fresh(str(tmp))
        try:
            os.write(fd, orjson.dumps({"seq": seq, "hash": digest}))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise AuditError(f"cannot write the audit witness {path}: {exc}", path=str(path)) from exc


def read_witness(path: Path) -> tuple[int, str] | None:
    """(seq, hash) from a witness file; ``None`` when there is none. A malformed one is an error."""
    try:  # without blocking, bounded: a FIFO put here hung the writer, which reads it every batch
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"unreadable audit witness {path}: {exc}", path=str(path)) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AuditError(f"unreadable audit witness {path}: not a regular file", path=str(path))
        data = orjson.loads(os.read(fd, 1 << 16))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise AuditError(f"unreadable audit witness {path}: {exc}", path=str(path)) from exc
    finally:
        os.close(fd)
    if not (
        isinstance(data, dict) and isinstance(data.get("seq"), int) and isinstance(data.get("hash"), str)
    ):
        raise AuditError(f"malformed audit witness {path}", path=str(path))
    return data["seq"], data["hash"]


class DatabaseVerifyReport(BaseModel):
    """What ``verify_database`` found: ``ok`` and the first bad row (``seq``, why) if not."""

    source: str
    ok: bool
    records_verified: int
    head: str | None
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_database(db: Database, *, witness: Path | None = None) -> DatabaseVerifyReport:
    """Check the chain row by row: each line hashes to its stated hash, names the previous record's
    hash, and the ``seq`` run has no gap (a deleted row) and no edit (a changed line or hash).
    ``witness``: this host's record of the last row it appended, which must still be there with the
    same hash (rows cut off the end are noticed)."""
    seen = read_witness(witness) if witness is not None else None
    expected_seq, prev, count = 0, GENESIS, 0
    label = f"{db.label}#audit"

    def bad(seq: int, reason: str) -> DatabaseVerifyReport:
        return DatabaseVerifyReport(
            source=label,
            ok=False,
            records_verified=count,
            head=None if count == 0 else prev,
            first_bad_seq=seq,
            reason=reason,
        )

    after = -1
    while True:
        with db.connection() as conn:
            rows = conn.execute(
                "SELECT seq, hash, line FROM ag_audit WHERE seq > %s ORDER BY seq LIMIT 5000", (after,)
            ).fetchall()
            conn.rollback()
        if not rows:
            break
        for seq, stated_row, line in rows:
            after = seq
            if seq != expected_seq:
                return bad(expected_seq, f"record {expected_seq} is missing (next row is {seq})")
            try:
                body, stated = split_line(line.encode() + b"\n")
            except LineFormatError as exc:
                return bad(seq, str(exc))
            if hashlib.sha256(body).hexdigest() != stated or stated != stated_row:
                return bad(seq, "the record was changed after it was written (hash mismatch)")
            record = _decode(line)
            if record.get("seq") != seq:
                return bad(seq, f"the record says seq {record.get('seq')!r}")
            if record.get("prev") != prev:
                return bad(seq, "the record does not link to the one before it")
            if seen is not None and seq == seen[0] and stated != seen[1]:
                return bad(seq, f"record {seq} is not the one this host appended (witness {witness})")
            prev, expected_seq, count = stated, expected_seq + 1, count + 1
    if seen is not None and seen[0] >= expected_seq:
        return bad(
            expected_seq,
            f"records {expected_seq}..{seen[0]} are gone: this host appended up to {seen[0]} "
            f"(witness {witness}); rows were cut off the end",
        )
    return DatabaseVerifyReport(source=label, ok=True, records_verified=count, head=prev if count else None)

"""The PostgreSQL approval database: pool, write transactions that notify, waking waiters, audit hand-off.

The store of record for requests and grants (:class:`PostgresApprovalStore` in ``_pg_store`` adds
those), as ``_database`` is for SQLite. Every change ends with ``NOTIFY agentguard_approvals`` in its
own transaction (delivered at commit); one listener thread per process turns notifications into
wake-ups, and its connection also carries the heartbeat of this process's request owners. Audit
records owed for a change go to ``ag_outbox`` in the change's transaction and are handed to an audit
log by whichever store with one comes next, under an advisory lock (at least once, never lost).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Self

import orjson

from agentguard.approval._database import Flushable
from agentguard.approval._rows import dumps
from agentguard.approval._signal import ChangeSignal
from agentguard.database import Database, DatabaseError, Listener, check_schema
from agentguard.database._locks import LockWaitTimeout, bound_lock_waits, take_advisory_lock
from agentguard.errors import AgentGuardError, ApprovalError, AuditError
from agentguard.pipeline import AuditSink

__all__ = ["CHANNEL", "HEARTBEAT", "PostgresQueueDatabase"]

_log = logging.getLogger("agentguard.approval")
CHANNEL = "agentguard_approvals"
# An owner's heartbeat, keyed by the login role too (db_role, default session_user): one host cannot
# write, refresh or squat another's (row-level security, ``agentguard db roles``).
HEARTBEAT = (
    "INSERT INTO ag_owners (host, pid, start, seen_at) VALUES (%s, %s, %s, clock_timestamp())"
    " ON CONFLICT (db_role, host, pid, start) DO UPDATE SET seen_at = clock_timestamp()"
)
_OUTBOX_LOCK = 0x61676F62  # advisory lock key: one outbox hand-over at a time ("agob")


def _lock_timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock wait that ran out (``lock_timeout``), as raised or as wrapped."""
    import psycopg

    return isinstance(exc, psycopg.errors.LockNotAvailable) or isinstance(
        exc.__cause__, psycopg.errors.LockNotAvailable
    )


def _owed_fields(text: str) -> dict[str, Any]:
    """An owed record's fields; text that is not a JSON object (an agent host wrote it: a fault or a
    host trying to stop every approver's hand-over) is handed over as it is, never dropped or fatal."""
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        found = None
    return found if isinstance(found, dict) else {"unreadable_fields": text}


class PostgresQueueDatabase:
    """Connection, notifying write transactions, change notification and audit hand-off.

    ``database``: share a :class:`Database` (pool) instead of opening one at ``url``; it is then not
    closed with the store. ``heartbeat_s``: how often owners in this process say they are alive.
    ``lock_wait_s``: how long an audit hand-over waits for the outbox lock (any host can hold it)
    before leaving the records owed for the next one.
    """

    verifies_hosts = True  # each request carries the login role that submitted it (NULL: before that)

    def __init__(
        self,
        url: str | None,
        *,
        database: Database | None,
        audit: AuditSink | None,
        clock: Callable[[], float] = time.time,
        heartbeat_s: float = 5.0,
        readonly: bool = False,
        lock_wait_s: float = 5.0,
    ) -> None:
        if database is None and url is None:
            raise ApprovalError("a PostgreSQL approval store needs a database_url")
        self.audit = audit
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self.readonly = readonly
        self.lock_wait_s = lock_wait_s
        self._own_db = database is None
        try:
            self.db = database if database is not None else Database(url or "")
        except DatabaseError as exc:
            raise ApprovalError(str(exc), **exc.data) from exc
        try:
            check_schema(self.db)
        except DatabaseError as exc:
            if self._own_db:
                self.db.close()
            raise ApprovalError(str(exc), **exc.data) from exc
        self.label = self.db.label
        self._signal = ChangeSignal()
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._owners: set[tuple[str, int, str]] = set()  # owners in this process with a heartbeat

    # -- plumbing -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if _lock_timed_out(exc):
                raise ApprovalError(
                    f"{self.label}: a row this change needs stayed locked by another session for more than"
                    f" {self.lock_wait_s:g}s (an agent host can keep its own request locked); try again, or"
                    " end that session",
                    url=self.label,
                    transient=False,
                ) from exc
            if isinstance(exc, DatabaseError):
                raise ApprovalError(f"approval queue: {exc}", **exc.data) from exc
            if isinstance(exc, AgentGuardError):
                raise
            if self.db.is_error(exc):
                raise ApprovalError(
                    f"{self.label}: approval queue error: {exc}",
                    url=self.label,
                    transient=self.db.is_transient(exc),
                ) from exc
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        """One transaction that ends by notifying every listening process (at commit)."""
        if self.readonly:
            raise ApprovalError("this approval store was opened read-only")
        with self._errors(), self.db.transaction() as conn:
            bound_lock_waits(conn, self.lock_wait_s)
            yield conn
            conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        self._signal.bump()

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            rows: list[dict[str, Any]] = cur.fetchall()
            conn.rollback()
            return rows

    def _ensure_listener(self) -> None:
        with self._listener_lock:
            if self._listener is None and not self._signal.closed:
                self._listener = self.db.listen(
                    CHANNEL, self._signal.bump, tick=self._heartbeat, tick_every=self.heartbeat_s
                )

    def _heartbeat(self, conn: Any) -> None:
        """Say that this process's owners are alive (database clock, so host clocks do not matter)."""
        for host, pid, start in list(self._owners):
            conn.execute(HEARTBEAT, (host, pid, start))

    def version(self) -> int:
        """A counter that grows whenever the queue changes (here, or anywhere: by notification)."""
        self._ensure_listener()
        return self._signal.version

    def wait_for_change(self, seen: int, timeout: float) -> int:
        self._ensure_listener()
        return self._signal.wait(seen, timeout)

    async def await_change(self, seen: int, timeout: float) -> int:
        self._ensure_listener()
        return await self._signal.await_change(seen, timeout)

    def close(self) -> None:
        if not self._signal.close():
            return
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        if self._own_db:
            self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- audit hand-off -----------------------------------------------------------------------

    @staticmethod
    def _owe_audit(conn: Any, event: str, **fields: Any) -> None:
        conn.execute("INSERT INTO ag_outbox (event, fields) VALUES (%s, %s)", (event, dumps(fields)))

    def flush_audit(self) -> int:
        """Hand owed audit records to this store's audit log; how many (at least once, never lost).

        A record another role owed (an approver handing over an agent host's) names that role as
        ``owed_by_role``: the database says who wrote it, whatever its fields claim."""
        if self.audit is None or self.readonly:
            return 0
        with self._errors(), self.db.transaction() as conn:
            try:
                take_advisory_lock(conn, _OUTBOX_LOCK, wait_s=self.lock_wait_s, what="outbox hand-over lock")
            except LockWaitTimeout as exc:  # not fatal: the records stay owed, for the next hand-over
                _log.warning("owed audit records stay owed for now: %s", exc.message)
                return 0
            rows = conn.execute(
                "SELECT seq, event, fields, CASE WHEN db_role IS DISTINCT FROM session_user THEN db_role END"
                " FROM ag_outbox ORDER BY seq"
            ).fetchall()
            try:
                self._hand_over(rows)
            except AuditError as exc:
                if not isinstance(exc.__cause__, LockWaitTimeout):
                    raise
                # Any host can hold the audit chain's lock: the records stay owed (those appended
                # already are appended again next time, at least once), and the change that owed
                # them, committed already, is not reported as failed.
                _log.warning("owed audit records stay owed for now: %s", exc.message)
                return 0
            if rows and not self._delete_owed(conn, [row[0] for row in rows]):
                return 0
        return len(rows)

    def _hand_over(self, rows: list[Any]) -> None:
        assert self.audit is not None
        for _seq, event, fields, other in rows:
            found = _owed_fields(fields)
            found.pop("owed_by_role", None)  # only the database says this
            self.audit.record(event, **found, **({"owed_by_role": other} if other is not None else {}))
        if rows and isinstance(self.audit, Flushable):
            self.audit.flush()

    @staticmethod
    def _delete_owed(conn: Any, seqs: list[int]) -> bool:
        """Delete exactly the rows handed over: one committed meanwhile may have a lower seq than the
        last read (seqs are taken before commit; a host may write any seq), and stays owed. Deleted
        through ``ag_outbox_handed_over`` (schema 7): hosts hold no DELETE on the table, which would
        also let them lock all of it. A row a host keeps locked (its own hand-over left open) stops
        the wait at the lock timeout: then none is deleted, and all are handed over again next time
        (at least once)."""
        import psycopg

        try:
            with conn.transaction():  # a savepoint: the lock wait running out undoes only the delete
                conn.execute("SELECT ag_outbox_handed_over(%s::bigint[])", (seqs,))
        except psycopg.errors.LockNotAvailable:
            _log.warning("owed audit records handed over stay owed (a session keeps them locked)")
            return False
        return True

"""The approval database: one SQLite file (WAL) shared by every agent and approver on the machine.

Every change is one ``BEGIN IMMEDIATE`` transaction. Waiters are woken by local writes at once and by
other processes' writes through ``PRAGMA data_version``, which one watcher thread polls. Audit records
owed for a change are written to the ``outbox`` table in the change's own transaction and handed to
an audit log by whichever store with one comes next, so none is lost to a crash or to a store opened
without an audit log.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import orjson

from agentguard.approval import _faults
from agentguard.approval._rows import DB_FILE, SCHEMA, SCHEMA_META, SCHEMA_VERSION, dumps
from agentguard.approval._signal import ChangeSignal
from agentguard.approval._source import connect_readonly
from agentguard.errors import AgentGuardError, ApprovalError
from agentguard.pipeline import AuditSink

__all__ = ["Flushable", "SqliteDatabase"]


def _private(path: Path) -> None:
    """Create ``path`` 0600, or take away what an existing one grants to others: the queue holds every
    request's arguments unredacted (the approver sees what runs), and SQLite gives its ``-wal`` and
    ``-shm`` files the database's mode. A group the owner shared it with keeps its access."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o007:
            os.fchmod(fd, mode & ~0o007)
    finally:
        os.close(fd)
    for side in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            side_path = path.with_name(path.name + side)
            side_mode = stat.S_IMODE(side_path.stat().st_mode)
            if side_mode & 0o007:
                side_path.chmod(side_mode & ~0o007)


@runtime_checkable
class Flushable(Protocol):
    """An audit sink that buffers (``AuditLog`` in batch mode): owed records are flushed before they
    are deleted from the outbox."""

    def flush(self) -> None: ...


class SqliteDatabase:
    """The approval database: connection, write transactions, change notification, audit hand-off.

    The store of record for requests and grants (:class:`SqliteApprovalStore` adds those). ``clock``
    (epoch seconds) is the one clock of the approval path; ``readonly`` opens for reading only (no
    file is created; a read-only home works).
    """

    verifies_hosts = False  # one machine: a request has no database role, and needs none

    def __init__(
        self,
        home: Path,
        *,
        audit: AuditSink | None = None,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        self.home = Path(home)
        self.path = self.home / DB_FILE
        self.audit = audit
        self.poll_interval = poll_interval
        self.clock = clock
        self._lock = threading.RLock()
        self._signal = ChangeSignal()
        self._data_version = -1
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        self.readonly = readonly
        if readonly:
            self._db = self._open_readonly()
            return
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            _private(self.path)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 30000")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ApprovalError(f"{self.path}: cannot switch the approval queue to WAL mode ({mode})")
            self._db.execute("PRAGMA synchronous = FULL")
            with self._lock:
                self._db.executescript("BEGIN IMMEDIATE;" + SCHEMA + SCHEMA_META + "COMMIT;")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.Error as exc:
            raise ApprovalError(
                f"{self.path}: cannot open the approval queue: {exc}", path=str(self.path)
            ) from exc
        except OSError as exc:
            raise ApprovalError(
                f"{self.path}: cannot open the approval queue: {exc}", path=str(self.path)
            ) from exc
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise ApprovalError(
                f"{self.path}: approval queue schema {row[0] if row else '?'} is not supported "
                f"(expected {SCHEMA_VERSION})",
                path=str(self.path),
            )

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():  # nothing stored yet: an empty store, without creating a file
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.executescript(SCHEMA + SCHEMA_META)
            return db
        return connect_readonly(self.path, allow_immutable=True)

    def now(self) -> datetime:
        """The store's clock as an aware UTC time."""
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): serialised with every other writer."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            _faults.step("before commit")
            self._db.execute("COMMIT")
            _faults.step("after commit")
        self._signal.bump()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except AgentGuardError:
            raise
        except sqlite3.Error as exc:
            raise ApprovalError(f"{self.path}: approval queue error: {exc}", path=str(self.path)) from exc

    def version(self) -> int:
        """A counter that grows whenever the database changes (here or in another process)."""
        with self._lock, self._errors():
            dv = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            changed = dv != self._data_version
            self._data_version = dv
        if changed:
            self._signal.bump()
        return self._signal.version

    def _ensure_watcher(self) -> None:
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(target=self._watch, name="agentguard-approvals", daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        while not self._closed.wait(self.poll_interval):
            try:
                self.version()
            except ApprovalError:
                continue

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until :meth:`version` passes ``seen`` or ``timeout`` seconds pass; the new version."""
        self._ensure_watcher()
        return self._signal.wait(seen, timeout)

    async def await_change(self, seen: int, timeout: float) -> int:
        """The async form of :meth:`wait_for_change`: no thread is held while waiting."""
        self._ensure_watcher()
        return await self._signal.await_change(seen, timeout)

    def close(self) -> None:
        self._closed.set()
        self._signal.close()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- audit hand-off -----------------------------------------------------------------------

    @staticmethod
    def _owe_audit(db: sqlite3.Connection, event: str, **fields: Any) -> None:
        """Queue an audit record in the current transaction: it exists exactly if the change does."""
        db.execute("INSERT INTO outbox (event, fields) VALUES (?, ?)", (event, dumps(fields)))

    def flush_audit(self) -> int:
        """Hand owed audit records to this store's audit log (whoever wrote them); how many.

        Done under the write lock, so two stores never hand over the same record; a kill between the
        audit write and the delete hands it over again (at least once, never lost).
        """
        if self.audit is None or self.readonly:
            return 0
        with self._errors():
            if self._db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None:
                return 0
            with self._write() as db:
                rows = db.execute("SELECT seq, event, fields FROM outbox ORDER BY seq").fetchall()
                for row in rows:
                    self.audit.record(row["event"], **orjson.loads(row["fields"]))
                if isinstance(self.audit, Flushable):
                    self.audit.flush()
                _faults.step("audit handed over")
                # Exactly the rows handed over (as on PostgreSQL): a row owed meanwhile through this
                # connection, the only writer the lock lets in, may take any free seq, and stays owed.
                db.executemany("DELETE FROM outbox WHERE seq = ?", [(row["seq"],) for row in rows])
        return len(rows)

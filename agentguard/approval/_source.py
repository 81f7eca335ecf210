"""The policy engine's view of the grants: read from the approval store, the store of record.

``grants.csv`` is only an export (for people and for stock casbin). What the guard enforces comes
from the database, read-only, before every decision: a grant whose creation committed applies at the
next call, a grant whose revocation committed stops applying at the next call, whether or not
``grants.csv`` could be rewritten, and a database that cannot be read means no grant applies.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from agentguard.approval._grants import GRANTS_FILE, render_grants
from agentguard.approval._rows import DB_FILE, row_to_grant
from agentguard.errors import ApprovalError

__all__ = ["SqliteGrantSource", "connect_readonly", "grant_source"]


def connect_readonly(path: Path, *, allow_immutable: bool = False) -> sqlite3.Connection:
    """Open ``path`` read-only. ``allow_immutable``: in a folder nobody can write (so SQLite cannot
    create its shared-memory file), read it as a snapshot; only for displays, never for enforcing."""
    base = "file:" + quote(str(path.absolute())) + "?mode=ro"
    attempts = [base, base + "&immutable=1"] if allow_immutable else [base]
    error: sqlite3.Error | None = None
    for uri in attempts:
        try:
            db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            error = exc
            continue
        try:
            db.row_factory = sqlite3.Row
            db.execute("SELECT value FROM meta LIMIT 1").fetchall()  # the WAL index opens here
            return db
        except sqlite3.Error as exc:
            db.close()
            error = exc
    raise ApprovalError(f"{path}: cannot read the approval store: {error}", path=str(path))


class SqliteGrantSource:
    """:class:`agentguard.policy.GrantSource` over ``home/approvals.db`` (no database: no grants)."""

    def __init__(self, home: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(home) / DB_FILE
        self._label = str(Path(home) / GRANTS_FILE)
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int, int] | None = None
        self._seen = -1  # PRAGMA data_version at the last version read
        self._cached: int | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self._label

    def _connect(self) -> sqlite3.Connection | None:
        """The connection, reopened if the database file was replaced; ``None`` if there is none."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._close()
            return None
        except OSError as exc:
            raise ApprovalError(f"{self.path}: {exc}", path=str(self.path)) from exc
        identity = (st.st_dev, st.st_ino, st.st_ctime_ns)  # a replaced file, even at a reused inode
        if self._db is None or identity != self._identity:
            self._close()
            self._db = connect_readonly(self.path)
            self._identity = identity
        return self._db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
        self._identity = None
        self._cached = None

    def _version(self, db: sqlite3.Connection) -> tuple[object, ...]:
        """The grants version; the query runs only when another connection has committed since the
        last call (``PRAGMA data_version``), so the per-decision cost is a stat and a pragma."""
        seen = int(db.execute("PRAGMA data_version").fetchone()[0])
        if seen != self._seen or self._cached is None:
            row = db.execute("SELECT value FROM meta WHERE key = 'grants_version'").fetchone()
            self._cached = int(row[0]) if row else 0
            self._seen = seen
        # A replaced database starts its count again: the file's identity keeps versions distinct.
        return (self._identity, self._cached)

    def grants_version(self) -> tuple[object, ...]:
        with self._lock:
            try:
                db = self._connect()
                return () if db is None else self._version(db)
            except sqlite3.Error as exc:
                self._close()
                raise ApprovalError(f"{self.path}: cannot read grants: {exc}", path=str(self.path)) from exc

    def grants_snapshot(self) -> tuple[tuple[object, ...], str]:
        with self._lock:
            try:
                db = self._connect()
                if db is None:
                    return (), ""
                db.execute("BEGIN")
                try:
                    self._cached = None  # read the version inside this transaction, with the rows
                    version = self._version(db)
                    rows = db.execute("SELECT * FROM grants WHERE revoked_at IS NULL ORDER BY seq").fetchall()
                finally:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._close()
                raise ApprovalError(f"{self.path}: cannot read grants: {exc}", path=str(self.path)) from exc
        now = datetime.fromtimestamp(self.clock(), UTC)
        return version, render_grants([row_to_grant(r) for r in rows], now)

    def close(self) -> None:
        with self._lock:
            self._close()


def grant_source(home: Path) -> SqliteGrantSource:
    """The grants of the approval store in ``home``, as the policy engine reads them."""
    return SqliteGrantSource(home)

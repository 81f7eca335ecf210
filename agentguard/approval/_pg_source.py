"""The policy engine's view of the grants in PostgreSQL: read before every decision, on every host.

``grants_version`` is one indexed single-row read per decision (a notification could arrive after the
next call; a read cannot be late), so a grant created or revoked anywhere applies at the next call
everywhere. A database that cannot be read raises, and the engine then applies no grant (fail closed).
A grant scoped to one host (``host_role``, from the request it answered) is read only by the host
logging in as that role: a grant another host asked for never applies here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agentguard.approval._grants import render_grants
from agentguard.approval._rows import row_to_grant
from agentguard.database import redact_url
from agentguard.errors import ApprovalError

__all__ = ["PostgresGrantSource"]


class PostgresGrantSource:
    """:class:`agentguard.policy.GrantSource` over the ``ag_grants`` table at ``url``."""

    def __init__(
        self, url: str, *, clock: Callable[[], float] = time.time, connect_timeout: float = 5.0
    ) -> None:
        self.url = url
        self._label = f"{redact_url(url)}#grants"
        self.clock = clock
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self._label

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(int(self.connect_timeout), 1)
            )
        return self._conn

    def _fail(self, exc: Exception) -> ApprovalError:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        return ApprovalError(f"{self._label}: cannot read grants: {exc}", url=redact_url(self.url))

    def grants_version(self) -> tuple[object, ...]:
        import psycopg

        with self._lock:
            try:
                row = (
                    self._connect()
                    .execute("SELECT value FROM ag_meta WHERE key = 'grants_version'")
                    .fetchone()
                )
            except psycopg.Error as exc:
                raise self._fail(exc) from exc
        return (self._label, int(row[0]) if row else 0)

    def grants_snapshot(self) -> tuple[tuple[object, ...], str]:
        import psycopg
        from psycopg.rows import dict_row

        with self._lock:
            try:
                conn = self._connect()
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cur.execute("SELECT value FROM ag_meta WHERE key = 'grants_version'")
                    found = cur.fetchone()
                    cur.execute(
                        "SELECT * FROM ag_grants WHERE revoked_at IS NULL"
                        " AND (host_role IS NULL OR host_role = session_user) ORDER BY seq"
                    )
                    rows = cur.fetchall()
            except psycopg.Error as exc:
                raise self._fail(exc) from exc
        version = (self._label, int(found["value"]) if found else 0)
        now = datetime.fromtimestamp(self.clock(), UTC)
        return version, render_grants([row_to_grant(r) for r in rows], now)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None

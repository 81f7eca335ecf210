"""The SQLite approval store: queued requests and grants over the approval database (``_database``);
what every store is (the protocol, the errors) is in ``_store_api``.

Every answer is one atomic ``UPDATE ... WHERE status = 'pending'``, so a request is answered at most
once however many approvers race for it. Every grant change bumps the grants version the policy
engine watches, in the same transaction, so what is enforced never lags what is stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentguard.approval import _faults
from agentguard.approval._database import SqliteDatabase
from agentguard.approval._grants import GRANTS_FILE, render_grants, write_grants_file
from agentguard.approval._records import Answer, Grant, QueuedRequest, RequestState
from agentguard.approval._rows import DB_FILE, dumps, grant_values, row_to_grant, row_to_request
from agentguard.approval._store_api import AlreadyAnswered, validate_grant
from agentguard.errors import AgentGuardError, ApprovalError
from agentguard.models import ApprovalRequest, ApprovalStatus
from agentguard.owner import Owner, is_alive
from agentguard.pipeline import AuditSink

__all__ = ["DB_FILE", "SqliteApprovalStore"]


# A request still pending this long after its deadline has no live waiter worth keeping it for.
_STALE_AFTER_S = 60.0


class SqliteApprovalStore(SqliteDatabase):
    """The SQLite implementation of :class:`ApprovalStore`.

    ``home`` is the state directory; the database is ``home/approvals.db``, the store of record: the
    policy engine reads grants from it (see ``_source``), and ``home/grants.csv`` is an export of them.
    Opening the store hands owed audit records to ``audit``, sweeps requests whose owner process has
    died and brings a lagging ``grants.csv`` up to date. ``clock`` (epoch seconds) is the store's one
    clock: submissions, answers, deadlines, grant expiry; tests pass a fixed one. ``readonly`` opens
    for listing only (a read-only home works).
    """

    def __init__(
        self,
        home: Path,
        *,
        audit: AuditSink | None = None,
        poll_interval: float = 0.05,
        sweep: bool = True,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        super().__init__(home, audit=audit, poll_interval=poll_interval, clock=clock, readonly=readonly)
        self.grants_path = self.home / GRANTS_FILE
        self.export_error: str | None = None  # why grants.csv could not be written, last time it failed
        if readonly:
            return
        self.flush_audit()
        if sweep:
            self.sweep()
        self._export_if_stale()

    # -- requests -----------------------------------------------------------------------------

    def submit(self, request: ApprovalRequest, owner: Owner) -> QueuedRequest:
        """Queue ``request`` (its id is the call id) on behalf of ``owner``."""
        now = self.clock()
        with self._errors():
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT INTO requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
                        " owner_host, owner_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            request.call.id,
                            request.call.agent,
                            request.call.tool,
                            request.model_dump_json(),
                            now,
                            now + request.timeout_s,
                            owner.pid,
                            owner.host,
                            owner.start,
                        ),
                    )
            except sqlite3.IntegrityError as exc:
                raise ApprovalError(
                    f"call {request.call.id} is already in the approval queue", request_id=request.call.id
                ) from exc
            return self.get(request.call.id)

    def get(self, request_id: str) -> QueuedRequest:
        with self._lock, self._errors():
            row = self._db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise ApprovalError(f"no approval request {request_id!r}", request_id=request_id)
        return row_to_request(row)

    def lookup(self, id_or_prefix: str) -> QueuedRequest:
        """The request whose id is or starts with ``id_or_prefix`` (which must be unambiguous)."""
        prefix = id_or_prefix.strip().lower()
        if not prefix or not all(c in "0123456789abcdef" for c in prefix):
            raise ApprovalError(f"{id_or_prefix!r} is not a request id (hex digits)", request_id=id_or_prefix)
        with self._lock, self._errors():
            rows = self._db.execute(
                "SELECT * FROM requests WHERE id >= ? AND id < ? ORDER BY seq LIMIT 3",
                (prefix, prefix + "g"),
            ).fetchall()
        if not rows:
            raise ApprovalError(f"no approval request matches {id_or_prefix!r}", request_id=id_or_prefix)
        if len(rows) > 1:
            raise ApprovalError(
                f"{id_or_prefix!r} matches more than one request; give more characters",
                request_id=id_or_prefix,
                matches=[r["id"] for r in rows],
            )
        return row_to_request(rows[0])

    def pending(self) -> list[QueuedRequest]:
        """Pending requests, oldest first."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM requests WHERE status = 'pending' ORDER BY seq").fetchall()
        return [row_to_request(r) for r in rows]

    def recent(self, limit: int = 100) -> list[QueuedRequest]:
        """The newest ``limit`` requests in any state, newest first."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM requests ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [row_to_request(r) for r in rows]

    def _answered_or_raise(self, request_id: str, wanted: str) -> None:
        current = self.get(request_id)
        raise AlreadyAnswered(
            f"request {request_id[:12]} was already {current.state.value}"
            + (f" by {current.approver}" if current.approver else "")
            + f"; the {wanted} was not applied",
            request_id=request_id,
            state=current.state.value,
        )

    def resolve(self, request_id: str, answer: Answer, grant: Grant | None = None) -> QueuedRequest:
        """Answer a pending request, atomically; with ``grant``, store the grant in the same transaction.

        Raises :class:`AlreadyAnswered` if the request is no longer pending: an answer is applied once.
        """
        if answer.status not in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
            raise ApprovalError(f"an answer is approved or denied, not {answer.status.value}")
        if grant is not None and answer.status is not ApprovalStatus.APPROVED:
            raise ApprovalError("only an approval can create a grant")
        if grant is not None:
            self._validate(grant)
        with self._errors():
            with self._write() as db:
                cur = db.execute(
                    "UPDATE requests SET status = ?, approver = ?, channel = ?, reason = ?, edited = ?,"
                    " scope = ?, grant_id = ?, resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (
                        answer.status.value,
                        answer.approver,
                        answer.channel,
                        answer.reason,
                        dumps(answer.edited_arguments) if answer.edited_arguments is not None else None,
                        answer.scope,
                        grant.id if grant else None,
                        self.clock(),
                        request_id,
                    ),
                )
                if cur.rowcount == 1 and grant is not None:
                    self._insert_grant(db, grant)
            if cur.rowcount != 1:
                self._answered_or_raise(request_id, "answer")
            if grant is not None:
                self._after_grant_change()
            return self.get(request_id)

    def _owe_abandoned(
        self, db: sqlite3.Connection, request_id: str, row: Any, reason: str, noticed_by: dict[str, Any]
    ) -> None:
        """The ``approval.abandoned`` record an abandonment owes, whoever noticed it."""
        self._owe_audit(
            db,
            "approval.abandoned",
            call_id=request_id,
            agent=row["agent"],
            tool=row["tool"],
            reason=reason,
            owner_pid=row["owner_pid"],
            owner_host=row["owner_host"],
            noticed_by=noticed_by,
        )

    def close_unanswered(self, request_id: str, state: RequestState, reason: str) -> QueuedRequest:
        """Mark a pending request timed out or abandoned; returns the final record either way.

        If an answer won the race, that answer is returned and nothing is changed.
        """
        if state not in (RequestState.TIMEOUT, RequestState.ABANDONED):
            raise ApprovalError(f"close_unanswered takes timeout or abandoned, not {state.value}")
        with self._errors():
            with self._write() as db:
                cur = db.execute(
                    "UPDATE requests SET status = ?, approver = 'agentguard', channel = 'queue', reason = ?,"
                    " resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (state.value, reason, self.clock(), request_id),
                )
                if cur.rowcount == 1 and state is RequestState.ABANDONED:
                    row = db.execute(
                        "SELECT agent, tool, owner_pid, owner_host FROM requests WHERE id = ?", (request_id,)
                    ).fetchone()
                    self._owe_abandoned(db, request_id, row, reason, _noticer())
            if state is RequestState.ABANDONED:
                # An audit failure here must not mask why the wait ended; the record stays owed.
                with contextlib.suppress(AgentGuardError):
                    self.flush_audit()
            return self.get(request_id)

    def sweep(self) -> list[str]:
        """Abandon pending requests whose owner process is gone (or, for an owner on another host,
        long past the deadline); their ids. The one reaper: agents, the CLI and the TUI all call it, and
        each abandonment is owed to the audit log in the same transaction, whoever notices."""
        now = self.clock()
        with self._lock, self._errors():
            rows = self._db.execute(
                "SELECT id, agent, tool, owner_pid, owner_host, owner_start, deadline FROM requests"
                " WHERE status = 'pending'"
            ).fetchall()
        dead: list[tuple[str, str, sqlite3.Row]] = []
        alive_cache: dict[tuple[int, str, str | None], bool | None] = {}
        for row in rows:
            key = (row["owner_pid"], row["owner_host"], row["owner_start"])
            if key not in alive_cache:
                alive_cache[key] = is_alive(Owner(pid=key[0], host=key[1], start=key[2]))
            if alive_cache[key] is False:
                dead.append((row["id"], "the agent process that asked has exited", row))
            elif alive_cache[key] is None and row["deadline"] + _STALE_AFTER_S < now:
                # An owner on another host cannot be checked: its deadline is all there is. A live
                # owner here times its own requests out (and marks them abandoned if interrupted).
                dead.append((row["id"], "no answer long past the deadline and no waiter left", row))
        swept: list[str] = []
        if not dead:
            return swept
        noticed_by = _noticer()
        with self._errors(), self._write() as db:
            for request_id, reason, row in dead:
                cur = db.execute(
                    "UPDATE requests SET status = 'abandoned', approver = 'agentguard', channel = 'sweep',"
                    " reason = ?, resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (reason, now, request_id),
                )
                if cur.rowcount == 1:
                    swept.append(request_id)
                    self._owe_abandoned(db, request_id, row, reason, noticed_by)
        self.flush_audit()
        return swept

    # -- grants -------------------------------------------------------------------------------

    _validate = staticmethod(validate_grant)

    def _insert_grant(self, db: sqlite3.Connection, grant: Grant) -> None:
        """Insert ``grant``, bump the grants version and owe its audit record, in the caller's transaction."""
        db.execute(
            "INSERT INTO grants (id, agent, tool, scope, condition, created_by, created_at, expires_at,"
            " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            grant_values(grant),
        )
        self._grants_changed(db, "grant.created", grant)

    def _grants_changed(self, db: sqlite3.Connection, event: str, grant: Grant) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'grants_version'")
        fields: dict[str, Any] = {
            "grant_id": grant.id,
            "agent": grant.agent,
            "tool": grant.tool,
            "scope": grant.scope.value,
            "condition": grant.condition,
            "created_by": grant.created_by,
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            "request_id": grant.request_id,
        }
        if event == "grant.revoked":
            fields["revoked_by"] = grant.revoked_by
        self._owe_audit(db, event, **fields)

    def grants(self, *, include_inactive: bool = False) -> list[Grant]:
        """Grants, oldest first; by default only those neither revoked nor expired (store clock)."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM grants ORDER BY seq").fetchall()
        found = [row_to_grant(r) for r in rows]
        now = self.now()
        return found if include_inactive else [g for g in found if g.active(now)]

    def grants_version(self) -> int:
        """Grows with every grant created or revoked (in the same transaction as the change)."""
        with self._lock, self._errors():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'grants_version'").fetchone()
        return int(row[0]) if row else 0

    def add_grant(self, grant: Grant) -> Grant:
        """Store a grant (validated first: a grant that would not compile is never written)."""
        self._validate(grant)
        with self._errors():
            with self._write() as db:
                self._insert_grant(db, grant)
            self._after_grant_change()
        return grant

    def lookup_grant(self, id_or_prefix: str) -> Grant:
        prefix = id_or_prefix.strip().lower()
        if not prefix or not all(c in "0123456789abcdef" for c in prefix):
            raise ApprovalError(f"{id_or_prefix!r} is not a grant id (hex digits)", grant_id=id_or_prefix)
        with self._lock, self._errors():
            rows = self._db.execute(
                "SELECT * FROM grants WHERE id >= ? AND id < ? ORDER BY seq LIMIT 3", (prefix, prefix + "g")
            ).fetchall()
        if not rows:
            raise ApprovalError(f"no grant matches {id_or_prefix!r}", grant_id=id_or_prefix)
        if len(rows) > 1:
            raise ApprovalError(
                f"{id_or_prefix!r} matches more than one grant; give more characters", grant_id=id_or_prefix
            )
        return row_to_grant(rows[0])

    def revoke_grant(self, grant_id: str, by: str) -> Grant:
        """Revoke a grant. It stops applying once this commits (the engine reads the database), even if
        ``grants.csv`` cannot be rewritten. Revoking a revoked grant finishes what an interrupted
        revocation left undone (the export, the audit record) and returns it unchanged."""
        with self._errors():
            with self._write() as db:
                db.execute(
                    "UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                    (self.clock(), by, grant_id),
                )
                changed = db.execute("SELECT changes()").fetchone()[0] == 1
                row = db.execute("SELECT * FROM grants WHERE id = ?", (grant_id,)).fetchone()
                if row is not None and changed:
                    self._grants_changed(db, "grant.revoked", row_to_grant(row))
            if row is None:
                raise ApprovalError(f"no grant {grant_id!r}", grant_id=grant_id)
            self._after_grant_change()
        return row_to_grant(row)

    def render_grants_file(self) -> None:
        """Rewrite the ``grants.csv`` export from the database, under a file lock so writers never
        interleave. Raises ``OSError`` when it cannot be written."""
        lock_path = self.home / ".grants.lock"
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                with self._lock, self._errors():
                    self._db.execute("BEGIN")
                    try:
                        version = self.grants_version()
                        grants = self.grants()
                    finally:
                        self._db.execute("COMMIT")
                write_grants_file(self.grants_path, render_grants(grants, self.now(), version=version))
                _faults.step("grants.csv replaced")
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _export_if_stale(self) -> None:
        """Bring ``grants.csv`` up to the database's grants version if a crash left it behind."""
        try:
            with open(self.grants_path, encoding="utf-8") as fh:
                head = fh.readline() + fh.readline()
        except FileNotFoundError:
            head = ""
        except OSError:
            return
        if f" version {self.grants_version()}." not in head and (head or self.grants_version()):
            self._export()

    def _export(self) -> None:
        try:
            self.render_grants_file()
            self.export_error = None
        except OSError as exc:
            # Not a security problem (the engine reads the database), but people read the file.
            self.export_error = f"{self.grants_path}: cannot write the grants export: {exc}"

    def _after_grant_change(self) -> None:
        self.flush_audit()
        self._export()


def _noticer() -> dict[str, Any]:
    """This process, as named in the audit record of an abandonment it noticed."""
    return {"pid": os.getpid(), "host": socket.gethostname()}

"""The approval queue: one SQLite database (WAL) shared by every agent and approver on the machine.

Every answer is one atomic ``UPDATE ... WHERE status = 'pending'``, so a request is answered at most
once however many approvers race for it. Waiters are woken by local writes at once and by other
processes' writes through ``PRAGMA data_version``, which one watcher thread polls at a short interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from agentguard.approval._grants import GRANTS_FILE, render_grants, write_grants_file
from agentguard.approval._owner import Owner, is_alive
from agentguard.approval._records import Answer, Grant, GrantScope, QueuedRequest, RequestState
from agentguard.errors import AgentGuardError, ApprovalError
from agentguard.models import ApprovalRequest, ApprovalStatus
from agentguard.pipeline import AuditSink

__all__ = ["DB_FILE", "AlreadyAnswered", "ApprovalStore", "SqliteApprovalStore"]

DB_FILE = "approvals.db"
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    request TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    deadline REAL NOT NULL,
    owner_pid INTEGER NOT NULL,
    owner_host TEXT NOT NULL,
    owner_start TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    approver TEXT,
    channel TEXT,
    reason TEXT,
    edited TEXT,
    scope TEXT,
    grant_id TEXT,
    resolved_at REAL
);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status, seq);
CREATE TABLE IF NOT EXISTS grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    scope TEXT NOT NULL,
    condition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    request_id TEXT,
    revoked_at REAL,
    revoked_by TEXT
);
"""

_SCHEMA_META = f"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{_SCHEMA_VERSION}');"  # noqa: S608

# A request still pending this long after its deadline has no live waiter worth keeping it for.
_STALE_AFTER_S = 60.0


class AlreadyAnswered(ApprovalError):
    """The request was answered (or timed out, or abandoned) before this answer arrived."""

    code = "approval.already_answered"


@runtime_checkable
class ApprovalStore(Protocol):
    """Where pending requests and grants live. SQLite today; a server database can implement this."""

    def submit(self, request: ApprovalRequest, owner: Owner) -> QueuedRequest: ...
    def get(self, request_id: str) -> QueuedRequest: ...
    def lookup(self, id_or_prefix: str) -> QueuedRequest: ...
    def pending(self) -> list[QueuedRequest]: ...
    def recent(self, limit: int = 100) -> list[QueuedRequest]: ...
    def resolve(self, request_id: str, answer: Answer, grant: Grant | None = None) -> QueuedRequest: ...
    def close_unanswered(self, request_id: str, state: RequestState, reason: str) -> QueuedRequest: ...
    def sweep(self) -> list[str]: ...
    def version(self) -> int: ...
    def wait_for_change(self, seen: int, timeout: float) -> int: ...
    async def await_change(self, seen: int, timeout: float) -> int: ...
    def grants(self, *, include_inactive: bool = False) -> list[Grant]: ...
    def add_grant(self, grant: Grant) -> Grant: ...
    def lookup_grant(self, id_or_prefix: str) -> Grant: ...
    def revoke_grant(self, grant_id: str, by: str) -> Grant: ...
    def close(self) -> None: ...


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class SqliteApprovalStore:
    """The SQLite implementation of :class:`ApprovalStore`.

    ``home`` is the state directory; the database is ``home/approvals.db`` and grants are rendered to
    ``home/grants.csv``. Opening the store sweeps requests whose owner process has died. ``clock``
    (epoch seconds) stamps submissions and answers; tests pass a fixed one for stable screenshots.
    """

    def __init__(
        self,
        home: Path,
        *,
        audit: AuditSink | None = None,
        poll_interval: float = 0.05,
        sweep: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = Path(home)
        self.path = self.home / DB_FILE
        self.grants_path = self.home / GRANTS_FILE
        self.audit = audit
        self.poll_interval = poll_interval
        self.clock = clock
        self._lock = threading.RLock()
        self._cond = threading.Condition(threading.Lock())
        self._version = 0
        self._data_version = -1
        self._listeners: set[Callable[[], None]] = set()
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 30000")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ApprovalError(f"{self.path}: cannot switch the approval queue to WAL mode ({mode})")
            self._db.execute("PRAGMA synchronous = FULL")
            with self._lock:
                self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _SCHEMA_META + "COMMIT;")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.Error as exc:
            raise ApprovalError(
                f"{self.path}: cannot open the approval queue: {exc}", path=str(self.path)
            ) from exc
        except OSError as exc:
            raise ApprovalError(
                f"{self.path}: cannot open the approval queue: {exc}", path=str(self.path)
            ) from exc
        if row is None or int(row[0]) != _SCHEMA_VERSION:
            raise ApprovalError(
                f"{self.path}: approval queue schema {row[0] if row else '?'} is not supported "
                f"(expected {_SCHEMA_VERSION})",
                path=str(self.path),
            )
        if sweep:
            self.sweep()

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
            self._db.execute("COMMIT")
        self._bump()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except AgentGuardError:
            raise
        except sqlite3.Error as exc:
            raise ApprovalError(f"{self.path}: approval queue error: {exc}", path=str(self.path)) from exc

    def _bump(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def version(self) -> int:
        """A counter that grows whenever the database changes (here or in another process)."""
        with self._lock, self._errors():
            dv = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            changed = dv != self._data_version
            self._data_version = dv
        if changed:
            self._bump()
        with self._cond:
            return self._version

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
        with self._cond:
            self._cond.wait_for(
                lambda: self._version != seen or self._closed.is_set(), timeout=max(timeout, 0)
            )
            return self._version

    async def await_change(self, seen: int, timeout: float) -> int:
        """The async form of :meth:`wait_for_change`: no thread is held while waiting."""
        self._ensure_watcher()
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        with self._cond:
            self._listeners.add(wake)
            current = self._version
        try:
            if current == seen:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=max(timeout, 0))
        finally:
            with self._cond:
                self._listeners.discard(wake)
        with self._cond:
            return self._version

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteApprovalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------

    def _row_to_request(self, row: sqlite3.Row) -> QueuedRequest:
        return QueuedRequest(
            id=row["id"],
            request=ApprovalRequest.model_validate_json(row["request"]),
            state=RequestState(row["status"]),
            owner=Owner(pid=row["owner_pid"], host=row["owner_host"], start=row["owner_start"]),
            submitted_at=_dt(row["submitted_at"]) or datetime.now(UTC),
            deadline=_dt(row["deadline"]) or datetime.now(UTC),
            approver=row["approver"],
            channel=row["channel"],
            reason=row["reason"],
            edited_arguments=orjson.loads(row["edited"]) if row["edited"] else None,
            scope=row["scope"],
            grant_id=row["grant_id"],
            resolved_at=_dt(row["resolved_at"]),
        )

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
        return self._row_to_request(row)

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
        return self._row_to_request(rows[0])

    def pending(self) -> list[QueuedRequest]:
        """Pending requests, oldest first."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM requests WHERE status = 'pending' ORDER BY seq").fetchall()
        return [self._row_to_request(r) for r in rows]

    def recent(self, limit: int = 100) -> list[QueuedRequest]:
        """The newest ``limit`` requests in any state, newest first."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM requests ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [self._row_to_request(r) for r in rows]

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
                        _dumps(answer.edited_arguments) if answer.edited_arguments is not None else None,
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
                self._after_grant_change("grant.created", grant)
            return self.get(request_id)

    def close_unanswered(self, request_id: str, state: RequestState, reason: str) -> QueuedRequest:
        """Mark a pending request timed out or abandoned; returns the final record either way.

        If an answer won the race, that answer is returned and nothing is changed.
        """
        if state not in (RequestState.TIMEOUT, RequestState.ABANDONED):
            raise ApprovalError(f"close_unanswered takes timeout or abandoned, not {state.value}")
        with self._errors():
            with self._write() as db:
                db.execute(
                    "UPDATE requests SET status = ?, approver = 'agentguard', channel = 'queue', reason = ?,"
                    " resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (state.value, reason, self.clock(), request_id),
                )
            return self.get(request_id)

    def sweep(self) -> list[str]:
        """Abandon pending requests whose owner process is gone (or long past deadline); their ids."""
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
            elif row["deadline"] + _STALE_AFTER_S < now:
                dead.append((row["id"], "no answer long past the deadline and no waiter left", row))
        swept: list[str] = []
        if not dead:
            return swept
        with self._errors(), self._write() as db:
            for request_id, reason, _ in dead:
                cur = db.execute(
                    "UPDATE requests SET status = 'abandoned', approver = 'agentguard', channel = 'sweep',"
                    " reason = ?, resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (reason, now, request_id),
                )
                if cur.rowcount == 1:
                    swept.append(request_id)
        if self.audit is not None:
            for request_id, reason, row in dead:
                if request_id in swept:
                    self.audit.record(
                        "approval.abandoned",
                        call_id=request_id,
                        agent=row["agent"],
                        tool=row["tool"],
                        reason=reason,
                        owner_pid=row["owner_pid"],
                        owner_host=row["owner_host"],
                    )
        return swept

    # -- grants -------------------------------------------------------------------------------

    @staticmethod
    def _insert_grant(db: sqlite3.Connection, grant: Grant) -> None:
        db.execute(
            "INSERT INTO grants (id, agent, tool, scope, condition, created_by, created_at, expires_at,"
            " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                grant.id,
                grant.agent,
                grant.tool,
                grant.scope.value,
                grant.condition,
                grant.created_by,
                _ts(grant.created_at),
                _ts(grant.expires_at) if grant.expires_at else None,
                grant.request_id,
            ),
        )

    @staticmethod
    def _row_to_grant(row: sqlite3.Row) -> Grant:
        return Grant(
            id=row["id"],
            agent=row["agent"],
            tool=row["tool"],
            scope=GrantScope(row["scope"]),
            condition=row["condition"],
            created_by=row["created_by"],
            created_at=_dt(row["created_at"]) or datetime.now(UTC),
            expires_at=_dt(row["expires_at"]),
            request_id=row["request_id"],
            revoked_at=_dt(row["revoked_at"]),
            revoked_by=row["revoked_by"],
        )

    def grants(self, *, include_inactive: bool = False) -> list[Grant]:
        """Grants, oldest first; by default only those neither revoked nor expired."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT * FROM grants ORDER BY seq").fetchall()
        found = [self._row_to_grant(r) for r in rows]
        return found if include_inactive else [g for g in found if g.active()]

    def add_grant(self, grant: Grant) -> Grant:
        with self._errors():
            with self._write() as db:
                self._insert_grant(db, grant)
            self._after_grant_change("grant.created", grant)
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
        return self._row_to_grant(rows[0])

    def revoke_grant(self, grant_id: str, by: str) -> Grant:
        """Revoke a grant: gone from ``grants.csv`` before this returns, so the policy stops applying it."""
        with self._errors():
            with self._write() as db:
                cur = db.execute(
                    "UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                    (self.clock(), by, grant_id),
                )
                row = db.execute("SELECT * FROM grants WHERE id = ?", (grant_id,)).fetchone()
            if row is None:
                raise ApprovalError(f"no grant {grant_id!r}", grant_id=grant_id)
            grant = self._row_to_grant(row)
            if cur.rowcount != 1:
                raise ApprovalError(
                    f"grant {grant_id[:12]} was already revoked by {grant.revoked_by}", grant_id=grant_id
                )
            self._after_grant_change("grant.revoked", grant)
        return grant

    def render_grants_file(self) -> None:
        """Rewrite ``grants.csv`` from the database, under a file lock so writers never interleave."""
        lock_path = self.home / ".grants.lock"
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                write_grants_file(self.grants_path, render_grants(self.grants()))
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _after_grant_change(self, event: str, grant: Grant) -> None:
        try:
            self.render_grants_file()
        except OSError as exc:
            raise ApprovalError(
                f"{self.grants_path}: cannot write the grants file: {exc}", path=str(self.grants_path)
            ) from exc
        if self.audit is not None:
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
            self.audit.record(event, **fields)

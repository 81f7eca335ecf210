"""Approver tokens: who may answer from the web console, stored hashed in ``<home>/web_tokens.db``.

A token is 32 random bytes (URL-safe text with an ``agw_`` prefix so it is recognisable in a leak
scan). Only its SHA-256 is stored: a token is high-entropy, so a fast hash is enough, and a stolen
database does not let anyone log in. Each token names one approver, the name every answer given with
it is recorded under.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentguard.errors import ApprovalError

__all__ = ["TOKENS_FILE", "ApproverToken", "TokenStore"]

TOKENS_FILE = "web_tokens.db"
_PREFIX = "agw_"
_APPROVER_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,99}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  approver TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL,
  revoked_at REAL,
  last_used_at REAL
);
"""


@dataclass(frozen=True, slots=True)
class ApproverToken:
    """A token's record (never the token itself)."""

    id: str
    approver: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class TokenStore:
    """Create, check, list and revoke approver tokens (thread-safe; one SQLite connection)."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / TOKENS_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        self.path.chmod(0o600)

    def create(self, approver: str) -> tuple[ApproverToken, str]:
        """A new token for ``approver``: its record and the token text (shown once, never stored)."""
        if not _APPROVER_OK.match(approver):
            raise ApprovalError(
                f"approver name {approver!r} must be letters, digits and ._@+- (at most 100)",
                field="approver",
            )
        token = _PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (id, approver, hash, created_at) VALUES (?, ?, ?, ?)",
                (token_id, approver, _digest(token), now),
            )
        return ApproverToken(token_id, approver, _dt(now) or datetime.now(UTC), None, None), token

    def check(self, token: str) -> ApproverToken | None:
        """The active token record ``token`` belongs to, or ``None`` (unknown, revoked, malformed)."""
        if not token.startswith(_PREFIX) or len(token) > 200:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL", (_digest(token),)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (time.time(), row["id"]))
        return self._record(row)

    def is_active(self, token_id: str) -> bool:
        """Still valid: a session ends the moment its token is revoked."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM tokens WHERE id = ? AND revoked_at IS NULL", (token_id,)
            ).fetchone()
        return row is not None

    def all(self) -> list[ApproverToken]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM tokens ORDER BY created_at").fetchall()
        return [self._record(r) for r in rows]

    def revoke(self, token_id_or_approver: str) -> list[ApproverToken]:
        """Revoke the token with this id, or every active token of this approver; the revoked ones."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tokens WHERE (id = ? OR approver = ?) AND revoked_at IS NULL",
                (token_id_or_approver, token_id_or_approver),
            ).fetchall()
            if not rows:
                raise ApprovalError(
                    f"no active token has id or approver {token_id_or_approver!r}", field="token"
                )
            self._db.executemany(
                "UPDATE tokens SET revoked_at = ? WHERE id = ?", [(now, r["id"]) for r in rows]
            )
        return [
            ApproverToken(r["id"], r["approver"], _dt(r["created_at"]) or datetime.now(UTC), _dt(now), None)
            for r in rows
        ]

    @staticmethod
    def _record(row: sqlite3.Row) -> ApproverToken:
        return ApproverToken(
            id=row["id"],
            approver=row["approver"],
            created_at=_dt(row["created_at"]) or datetime.fromtimestamp(0, UTC),
            revoked_at=_dt(row["revoked_at"]),
            last_used_at=_dt(row["last_used_at"]),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

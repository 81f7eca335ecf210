"""Browser sessions and the login rate limit, both in memory: a restart logs everyone out."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["LoginLimiter", "Session", "Sessions"]


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser: who, with which token, and the CSRF token its pages carry."""

    id: str
    approver: str
    token_id: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Random session ids (the cookie) -> :class:`Session`; sessions end after ``ttl_s`` or on logout."""

    ttl_s: float = 12 * 3600
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, approver: str, token_id: str) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            approver=approver,
            token_id=token_id,
            csrf=secrets.token_urlsafe(32),
            expires=time.monotonic() + self.ttl_s,
        )
        with self._lock:
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.expires <= time.monotonic():
                del self._by_id[session_id]
                return None
        return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)


@dataclass
class LoginLimiter:
    """At most ``per_client`` failed logins per client address, and ``overall`` from everyone, per
    ``window_s``: guessing a token is hopeless anyway (256 bits), this keeps the attempts cheap."""

    per_client: int = 5
    overall: int = 50
    window_s: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window_s:
            q.popleft()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            mine = self._failures.get(client, deque())
            self._trim(mine, now)
            self._trim(self._all, now)
            waits = [0.0]
            if len(mine) >= self.per_client:
                waits.append(mine[0] + self.window_s - now)
            if len(self._all) >= self.overall:
                waits.append(self._all[0] + self.window_s - now)
        return max(waits)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
            self._all.append(now)

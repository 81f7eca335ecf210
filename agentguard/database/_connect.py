"""Connections to the shared database: a small pool for work, one dedicated connection for LISTEN.

Every change that others wait for ends with ``NOTIFY`` in its own transaction (PostgreSQL delivers it
at commit, and only then); a :class:`Listener` thread per process turns notifications into a wake-up
of whoever waits. When the listening connection is lost (the server restarts, the network drops) the
listener wakes everyone too, so waiters re-read the state instead of trusting a notification that may
never come, and reconnects with a growing pause.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentguard.errors import AgentGuardError

__all__ = ["Database", "DatabaseError", "Listener", "redact_url"]

_STOP_CHECK_S = 0.2


class DatabaseError(AgentGuardError):
    """The shared database cannot be reached, or is at a schema this code cannot use."""

    code = "database.error"


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DatabaseError(
            "database_url is set but psycopg is not installed: pip install 'agentguard[postgres]'"
        ) from exc
    return psycopg


class Database:
    """A pool of connections to ``url`` (``postgresql://...``); ``label`` names it without the password.

    ``connect_timeout`` bounds how long a call waits for the server: a call that needs the database
    fails (closed) after it rather than hanging.
    """

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        application_name: str = "agentguard",
    ) -> None:
        psycopg = _psycopg()
        from psycopg_pool import ConnectionPool

        self.url = url
        self.label = redact_url(url)
        self.connect_timeout = connect_timeout
        self._errors_type: type[Exception] = psycopg.Error
        kwargs = {"connect_timeout": max(int(connect_timeout), 1), "application_name": application_name}
        try:
            # One plain connection first: an unreachable server is reported at once, with its reason,
            # instead of after the pool's retries.
            psycopg.connect(url, **kwargs).close()
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                kwargs=kwargs,
                check=ConnectionPool.check_connection,  # a connection broken by a restart is replaced
                timeout=connect_timeout,
                open=False,
                name="agentguard",
            )
            self.pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            raise DatabaseError(f"{self.label}: cannot connect: {exc}", url=self.label) from exc

    def is_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` came from the driver or the pool (a database problem, not a bug)."""
        from psycopg_pool import PoolTimeout

        return isinstance(exc, self._errors_type | PoolTimeout)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection (autocommit off: wrap writes in :meth:`transaction`)."""
        try:
            with self.pool.connection(timeout=self.connect_timeout) as conn:
                yield conn
        except AgentGuardError:
            raise
        except Exception as exc:
            if self.is_error(exc):
                raise DatabaseError(
                    f"{self.label}: {exc}", url=self.label, transient=self.is_transient(exc)
                ) from exc
            raise

    def is_transient(self, exc: BaseException) -> bool:
        """A lost or refused connection (server restarting, network cut), not a bad statement."""
        from psycopg import OperationalError
        from psycopg_pool import PoolTimeout

        return isinstance(exc, OperationalError | PoolTimeout)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction on a pooled connection: committed on success, rolled back on any error."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def listen(
        self,
        channel: str,
        wake: Callable[[], None],
        *,
        tick: Callable[[Any], None] | None = None,
        tick_every: float = 5.0,
    ) -> Listener:
        """Start a :class:`Listener` on ``channel`` calling ``wake`` for each notification."""
        listener = Listener(self, channel, wake, tick=tick, tick_every=tick_every)
        listener.start()
        return listener

    def close(self) -> None:
        self.pool.close()


class Listener:
    """A thread holding one connection that ``LISTEN``s on a channel.

    ``wake`` is called for every notification and after every reconnect (anything may have changed
    while nobody listened). ``tick(conn)`` runs every ``tick_every`` seconds on the same connection:
    the approval store's owner heartbeat.
    """

    def __init__(
        self,
        db: Database,
        channel: str,
        wake: Callable[[], None],
        *,
        tick: Callable[[Any], None] | None = None,
        tick_every: float = 5.0,
    ) -> None:
        if not channel.isidentifier():
            raise DatabaseError(f"{channel!r} is not a channel name")
        self.db = db
        self.channel = channel
        self.wake = wake
        self.tick = tick
        self.tick_every = tick_every
        self.connected = threading.Event()
        self.connected_once = False
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name=f"agentguard-listen-{channel}", daemon=True)

    def start(self) -> None:
        """Start listening; returns once ``LISTEN`` is in effect (or after the connect timeout, the
        thread then retrying): a change committed after this returns is never missed."""
        self._thread.start()
        self.connected.wait(self.db.connect_timeout)

    def _run(self) -> None:
        psycopg = _psycopg()
        pause = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.db.url,
                    autocommit=True,
                    connect_timeout=max(int(self.db.connect_timeout), 1),
                    application_name=f"agentguard-listen-{self.channel}",
                ) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {self.channel}")
                    pause = 0.1
                    if self.connected_once:
                        self.wake()  # whatever happened while nobody listened
                    self.connected_once = True
                    self.connected.set()
                    self._serve(conn)
            except Exception:  # noqa: BLE001 - any loss of the connection: wake everyone, reconnect
                self.connected.clear()
                self._conn = None
                if self._stop.is_set():
                    return
                self.wake()
                self._stop.wait(pause)
                pause = min(pause * 2, 2.0)

    def _serve(self, conn: Any) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            if self.tick is not None and time.monotonic() >= next_tick:
                self.tick(conn)
                next_tick = time.monotonic() + self.tick_every
            # Short waits so that stop() is prompt (a cancel does not interrupt a wait for notifies).
            for _ in conn.notifies(timeout=_STOP_CHECK_S):
                self.wake()
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

"""``with guard.session(...)`` / ``async with guard.session(...)``: open, make current, close, audit."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import TracebackType

from agentguard.session._session import _CURRENT, Session

__all__ = ["SessionScope"]


class SessionScope:
    """Makes ``session`` current inside the block; ``on_start``/``on_end`` write the audit pair.

    The same object works with ``with`` and ``async with``; it is single-use, like the session.
    """

    def __init__(
        self,
        session: Session,
        *,
        on_start: Callable[[Session], None] | None = None,
        on_end: Callable[[Session, BaseException | None], None] | None = None,
    ) -> None:
        self.session = session
        self._on_start = on_start
        self._on_end = on_end
        self._token: contextvars.Token[Session | None] | None = None
        self._enclosing: Session | None = None
        self._used = False

    def __enter__(self) -> Session:
        if self._used:
            raise RuntimeError(f"session {self.session.id} was already used; open a new one")
        self._used = True
        if self._on_start is not None:
            self._on_start(self.session)
        self._enclosing = _CURRENT.get()
        self._token = _CURRENT.set(self.session)
        return self.session

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        self.session.closed = True
        if self._enclosing is not None:  # a session inside another: the agent there read it too
            self._enclosing.take_marks(self.session)
            self._enclosing = None
        if self._on_end is not None:
            self._on_end(self.session, exc)

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, exc, tb)

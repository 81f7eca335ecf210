"""The guard's session methods: ``guard.session(...)`` (a ``with``/``async with`` scope), sessions that
outlive a block (``open_session``/``close_session``), their ``session.started/ended`` records, and the
session id each call is recorded under."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentguard.pipeline import AuditSink
from agentguard.session import Session, SessionScope, current_session
from agentguard.session._audit import SessionRecorder

__all__ = ["GuardSessions"]


class GuardSessions:
    """Mixed into ``Guard``: what it needs is the audit sink, the default agent and session id."""

    audit: AuditSink
    agent: str
    session_id: str | None  # the id calls outside any guard.session(...) are recorded under

    def session(
        self,
        *,
        user_request: str | None = None,
        vouched: Iterable[Any] | Mapping[str, Any] = (),
        session_id: str | None = None,
        agent: str | None = None,
        framework: str | None = None,
    ) -> SessionScope:
        """A session for one conversation: ``with guard.session(user_request=prompt):`` (or ``async with``).

        ``user_request`` is the user's own text (trusted input); ``vouched`` are values the application
        vouches for (the user's account IBAN, their address book). Calls inside are recorded under
        the session's id; their results are indexed for provenance conditions. See docs/provenance.md.
        """
        opened = Session(user_request=user_request, vouched=vouched, session_id=session_id)
        recorder = SessionRecorder(self.audit, agent or self.agent, framework)
        return SessionScope(opened, on_start=recorder.started, on_end=recorder.ended)

    def open_session(
        self,
        *,
        user_request: str | None = None,
        vouched: Iterable[Any] | Mapping[str, Any] = (),
        session_id: str | None = None,
        agent: str | None = None,
        framework: str | None = None,
    ) -> Session:
        """A session that outlives one ``with`` block (an MCP connection): make it current with
        ``session.active()`` around each call, and end it with :meth:`close_session`."""
        opened = Session(user_request=user_request, vouched=vouched, session_id=session_id)
        SessionRecorder(self.audit, agent or self.agent, framework).started(opened)
        return opened

    def add_user_request(
        self, session: Session, text: str, *, agent: str | None = None, framework: str | None = None
    ) -> None:
        """Add a later turn of the user's own text to ``session`` (audited as ``session.user_request``)."""
        if text:
            SessionRecorder(self.audit, agent or self.agent, framework).user_request(session, text)
            session.add_user_request(text)

    def close_session(
        self, session: Session, *, agent: str | None = None, framework: str | None = None
    ) -> None:
        """End a session from :meth:`open_session` (records ``session.ended``); idempotent."""
        if not session.closed:
            session.closed = True
            SessionRecorder(self.audit, agent or self.agent, framework).ended(session)

    def call_session_id(self, explicit: str | None = None) -> str | None:
        """The id a call is recorded under: given, else the current session's, else the guard's own."""
        if explicit:
            return explicit
        current = current_session()
        return current.id if current is not None else self.session_id

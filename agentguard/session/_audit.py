"""The ``session.started`` / ``session.ended`` pair in the audit log."""

from __future__ import annotations

from typing import Any

from agentguard.errors import AuditError
from agentguard.pipeline import AuditSink
from agentguard.session._session import Session

__all__ = ["SessionRecorder"]


class SessionRecorder:
    """Writes a session's start and end, shaped like a call's records (``call_id``/``tool`` null)."""

    def __init__(self, audit: AuditSink, agent: str, framework: str | None) -> None:
        self.audit = audit
        self.agent = agent
        self.framework = framework

    def started(self, session: Session) -> None:
        self._record(
            "session.started", session, user_request=session.user_request, vouched=len(session.vouched)
        )

    def user_request(self, session: Session, text: str) -> None:
        """A later turn of the user's text added to a running session (``session.user_request``)."""
        self._record("session.user_request", session, user_request=text)

    def ended(self, session: Session, exc: BaseException | None = None) -> None:
        self._record(
            "session.ended",
            session,
            results=len(session.results),
            marks=sorted(session.marks),
            error=type(exc).__name__ if exc is not None else None,
        )

    def _record(self, event: str, session: Session, **fields: Any) -> None:
        try:
            self.audit.record(
                event,
                call_id=None,
                agent=self.agent,
                tool=None,
                session=session.id,
                framework=self.framework,
                **fields,
            )
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError(f"audit log write failed: {exc}", event=event, session=session.id) from exc

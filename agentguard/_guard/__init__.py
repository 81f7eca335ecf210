"""The steps behind the public ``Guard`` (``agentguard/guard.py`` keeps their order).

Each step is a function of the parts it uses, read from the guard at every call (an adapter or a test
may swap the approver after construction): receiving a call, deciding it, asking about it, running it,
and the audit record each writes.
"""

from __future__ import annotations

from typing import Protocol

from agentguard.pipeline import Approver, AuditSink, PolicyDecider
from agentguard.settings import Settings

__all__ = ["Parts"]


class Parts(Protocol):
    """What the steps read from the guard."""

    settings: Settings
    audit: AuditSink
    policy: PolicyDecider
    approver: Approver

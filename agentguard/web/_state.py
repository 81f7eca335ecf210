"""What every route of the console shares: the store, the tokens, the sessions and the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from agentguard.approval import ApprovalDesk, ApprovalStore
from agentguard.sandbox_api import SandboxProfile
from agentguard.web._sessions import LoginLimiter, Sessions
from agentguard.web._tokens import TokenStore

__all__ = ["Console", "ConsoleOptions", "Webhook"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where to announce each new pending request; ``style`` is ``json`` or ``slack``."""

    url: str
    style: str = "json"


@dataclass(frozen=True)
class ConsoleOptions:
    """How the console is reached and what it shows.

    ``allowed_hosts``: the host names the ``Host`` header may carry (loopback names by default; a
    reverse proxy's public name must be added). ``public_url``: the base of links in notifications.
    ``tls``: cookies are ``Secure`` and HSTS is sent (the console serves TLS itself, or behind a proxy
    that does).
    """

    public_url: str = "http://127.0.0.1:8765"
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    tls: bool = False
    webhooks: tuple[Webhook, ...] = ()
    audit_path: Path | None = None
    workspace: Path | None = None
    profiles: dict[str, SandboxProfile] = field(default_factory=dict)
    default_profile: str = "default"
    sweep_every_s: float = 30.0
    audit_limit: int = 1000


@dataclass
class Console:
    """The running console's parts. ``schemas``: tool name -> argument model, for validating edits."""

    store: ApprovalStore
    tokens: TokenStore
    options: ConsoleOptions
    schemas: dict[str, type[BaseModel]] = field(default_factory=dict)
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    def desk(self, approver: str) -> ApprovalDesk:
        """The desk answers are given through: attributed to ``approver``, channel ``web``."""
        return ApprovalDesk(self.store, approver=approver, channel="web")

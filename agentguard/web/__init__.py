"""``agentguard serve``: the web approval console over the same approval store as the TUI.

Server-rendered pages (Starlette, Jinja2 with autoescaping, one small script, no build step), a JSON
API under ``/api/`` the pages use and scripts call with ``Authorization: Bearer TOKEN``, per-approver
tokens stored hashed, and webhooks announcing each new pending request. See docs/approvals.md.
"""

from agentguard.web._app import builtin_schemas, create_app
from agentguard.web._state import Console, ConsoleOptions, Webhook
from agentguard.web._tokens import ApproverToken, TokenStore

__all__ = [
    "ApproverToken",
    "Console",
    "ConsoleOptions",
    "TokenStore",
    "Webhook",
    "builtin_schemas",
    "create_app",
]

"""The approval TUI (``agentguard approve``), built on Textual."""

from agentguard.tui._app import ApprovalApp
from agentguard.tui._dialogs import (
    ConfirmDialog,
    DenyDialog,
    EditDialog,
    GrantChoice,
    HelpScreen,
    ScopeDialog,
)
from agentguard.tui._screens import AuditScreen, GrantsScreen

__all__ = [
    "ApprovalApp",
    "AuditScreen",
    "ConfirmDialog",
    "DenyDialog",
    "EditDialog",
    "GrantChoice",
    "GrantsScreen",
    "HelpScreen",
    "ScopeDialog",
]

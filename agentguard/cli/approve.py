"""``agentguard approve``: the approval TUI."""

from __future__ import annotations

import click

from agentguard.cli.context import AppContext, pass_app, reports_errors
from agentguard.pipeline import Closeable

__all__ = ["approve"]


@click.command()
@click.option("--as", "who", help="Approver identity recorded with each answer. [default: the OS user name]")
@click.option(
    "--refresh",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between queue checks.",
)
@pass_app
def approve(app: AppContext, who: str | None, refresh: float) -> None:
    """Answer pending approval requests in a terminal UI.

    \b
    Keys: a approve once, A approve always (scope), d deny (reason), e edit arguments,
          g grants, l audit log, ? help, q quit. The mouse works too.
    Agents anywhere on this machine that use the queue approver show up here; answers
    from `agentguard approvals ...` appear at once.
    """
    from agentguard.approval import open_store
    from agentguard.audit import open_audit
    from agentguard.tui import ApprovalApp

    with reports_errors():
        settings = app.settings
        audit = open_audit(settings)
        store = open_store(settings, audit=audit)
        try:
            ApprovalApp(
                store,
                approver=who,
                audit_path=settings.audit_path,
                profiles=dict(settings.sandbox.profiles),
                default_profile=settings.sandbox.default_profile,
                refresh_s=refresh,
            ).run()
        finally:
            store.close()
            if isinstance(audit, Closeable):
                audit.close()

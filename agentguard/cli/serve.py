"""``agentguard serve``: the web approval console, and ``serve token ...`` for approver tokens."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from agentguard.cli.context import AppContext, fail, pass_app, reports_errors

__all__ = ["serve"]

_PEM = click.Path(dir_okay=False, exists=True, path_type=Path)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group(invoke_without_command=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option(
    "--certfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS certificate (PEM)."
)
@click.option(
    "--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS private key (PEM)."
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Another host name the Host header may carry (a reverse proxy's public name). Repeatable.",
)
@click.option("--public-url", help="Base URL of links in notifications. [default: from --host/--port]")
@click.option(
    "--behind-tls-proxy", is_flag=True, help="A TLS-terminating reverse proxy is in front: Secure cookies."
)
@click.option(
    "--webhook", "webhooks", multiple=True, help="POST generic JSON here on each new pending request."
)
@click.option(
    "--slack-webhook", "slack_webhooks", multiple=True, help="POST a Slack-compatible message here."
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    allow_hosts: tuple[str, ...],
    public_url: str | None,
    behind_tls_proxy: bool,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
) -> None:
    """Serve the web approval console (queue, answers, grants, audit) over the approval store.

    \b
    First create a token for each approver; they log in with it:
      agentguard serve token create --approver alice
      agentguard serve                                  http://127.0.0.1:8765
    Scripts send `Authorization: Bearer TOKEN` to the JSON API under /api/.
    """
    if ctx.invoked_subcommand is not None:
        return
    if (certfile is None) != (keyfile is None):
        fail("--certfile and --keyfile go together")
    if not _loopback(host) and not allow_hosts:
        click.echo(
            f"warning: listening on {host}, but only requests whose Host header is a loopback name or "
            f"{host} are answered; add the names clients use with --allow-host",
            err=True,
        )
    app_ctx = ctx.ensure_object(AppContext)
    hooks = (*((u, "json") for u in webhooks), *((u, "slack") for u in slack_webhooks))
    _run(app_ctx, host, port, certfile, keyfile, allow_hosts, public_url, behind_tls_proxy, hooks)


def _run(
    app: AppContext,
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    allow_hosts: tuple[str, ...],
    public_url: str | None,
    behind_tls_proxy: bool,
    hooks: tuple[tuple[str, str], ...],
) -> None:
    import uvicorn

    from agentguard.approval import open_store
    from agentguard.audit import open_audit
    from agentguard.pipeline import Closeable
    from agentguard.web import Console, ConsoleOptions, TokenStore, Webhook, builtin_schemas, create_app
    from agentguard.web._state import LOOPBACK_HOSTS

    tls = certfile is not None or behind_tls_proxy
    shown = f"[{host}]" if ":" in host else host
    base = public_url or f"{'https' if tls else 'http'}://{shown}:{port}"
    with reports_errors():
        settings = app.settings
        # The same store and audit log the agents use: SQLite and the file, or the shared database.
        audit = open_audit(settings)
        store = open_store(settings, audit=audit)
        tokens = TokenStore(settings.home)
        try:
            if not tokens.all():
                hint = "create one with `agentguard serve token create --approver NAME`"
                click.echo(f"no approver tokens yet: {hint}", err=True)
            options = ConsoleOptions(
                public_url=base,
                allowed_hosts=tuple(h.lower() for h in (*LOOPBACK_HOSTS, *allow_hosts, host)),
                tls=tls,
                webhooks=tuple(Webhook(url, style) for url, style in hooks),
                audit_path=settings.audit_path,
                workspace=settings.workspace,
                profiles=dict(settings.sandbox.profiles),
                default_profile=settings.sandbox.default_profile,
            )
            console = Console(store=store, tokens=tokens, options=options, schemas=builtin_schemas(settings))
            click.echo(f"agentguard console on {base}", err=True)
            uvicorn.run(
                create_app(console),
                host=host,
                port=port,
                ssl_certfile=str(certfile) if certfile else None,
                ssl_keyfile=str(keyfile) if keyfile else None,
                log_level="warning",
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=5,
            )
        finally:
            tokens.close()
            store.close()
            if isinstance(audit, Closeable):
                audit.close()


@serve.group()
def token() -> None:
    """Approver tokens: each names the approver its answers are recorded under."""


@token.command("create")
@click.option("--approver", required=True, help="The name answers given with this token are recorded under.")
@pass_app
def token_create(app: AppContext, approver: str) -> None:
    """Create a token; it is printed once, alone on the last line (only its hash is stored)."""
    from agentguard.web import TokenStore

    with reports_errors():
        tokens = TokenStore(app.settings.home)
        try:
            record, text = tokens.create(approver)
        finally:
            tokens.close()
    click.echo(f"token {record.id} for approver {record.approver} (shown once; store it safely):")
    click.echo(text)


@token.command("list")
@pass_app
def token_list(app: AppContext) -> None:
    """List tokens (ids and approvers, never the tokens)."""
    from agentguard.web import TokenStore

    with reports_errors():
        tokens = TokenStore(app.settings.home)
        try:
            found = tokens.all()
        finally:
            tokens.close()
    if not found:
        click.echo("no approver tokens")
        return
    for t in found:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        click.echo(
            f"{t.id}  {t.approver:20} {state:24} created {t.created_at:%Y-%m-%d %H:%M}  last used {used}"
        )


@token.command("revoke")
@click.argument("token_id_or_approver")
@pass_app
def token_revoke(app: AppContext, token_id_or_approver: str) -> None:
    """Revoke a token by id, or every token of an approver; their sessions end at once."""
    from agentguard.web import TokenStore

    with reports_errors():
        tokens = TokenStore(app.settings.home)
        try:
            revoked = tokens.revoke(token_id_or_approver)
        finally:
            tokens.close()
    for t in revoked:
        click.echo(f"revoked token {t.id} of {t.approver}")

"""``agentguard mcp-proxy -- <server command ...>``: guard every tool call of an MCP server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NoReturn

import click

from agentguard.cli.context import AppContext, fail, pass_app, reports_errors
from agentguard.errors import AgentGuardError
from agentguard.pipeline import Approver
from agentguard.settings import Settings

__all__ = ["mcp_proxy"]


def _approver(kind: str, settings: Settings, audit: object) -> Approver:
    from agentguard.approval.scripted import DenyApprover

    if kind == "deny":
        return DenyApprover("mcp-proxy runs with --approver deny: ask means deny")
    try:
        from agentguard.approval import queue_approver_from_settings
    except ImportError as exc:
        if kind == "queue":
            raise click.UsageError(f"the approval queue is not available: {exc}") from exc
        return DenyApprover("the approval queue is not available: ask means deny")
    return queue_approver_from_settings(settings, audit=audit)  # type: ignore[arg-type]


def _stopped() -> NoReturn:
    click.echo("agentguard mcp-proxy: stopped (interrupted)", err=True)
    raise SystemExit(130)


def _http_address(value: str) -> tuple[str, int]:
    """``8765``, ``localhost:8765``, ``[::1]:8765`` as (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected [HOST:]PORT, e.g. 8765 or 127.0.0.1:8765", param_hint="--http"
        ) from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"{value!r}: the port must be 0-65535", param_hint="--http")
    return host, port


@click.command(
    "mcp-proxy",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--name",
    "server_name",
    help="Server name in policy: tools become mcp.<name>.<tool>. "
    "[default: from the command, e.g. mcp-server-time gives time]",
)
@click.option("--agent", help="Agent name the calls are decided and audited as. [default: settings' agent]")
@click.option(
    "--show-hidden",
    is_flag=True,
    help="List tools the policy always denies, marked in their description, instead of hiding them.",
)
@click.option(
    "--approver",
    "approver_kind",
    type=click.Choice(["auto", "queue", "deny"]),
    default="auto",
    show_default=True,
    help="Who answers 'ask' rules: the shared queue (answer with `agentguard "
    "approve`), or nobody (deny). auto = queue.",
)
@click.option(
    "--policy",
    "policy_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Permissions directory (same as the global --policy).",
)
@click.option(
    "--max-argument-bytes",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    help="Refuse calls whose arguments are larger than this as JSON.",
)
@click.option(
    "--http",
    "http_address",
    metavar="[HOST:]PORT",
    help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio. Loopback only "
    "(127.0.0.1, ::1, localhost; default host 127.0.0.1), one agent session at a time.",
)
@click.option(
    "--user-request-meta",
    is_flag=True,
    help="Trust the client's tools/call _meta[\"agentguard/user_request\"] as the user's own text "
    "(provenance: from_user). Only for clients that put the user's words there, never the model's.",
)
@click.option(
    "--sandbox",
    "sandbox_profile",
    metavar="PROFILE",
    help="Run the server in a hardened sandbox container under this [sandbox.profiles] profile "
    '(workspace mount, limits, network; network = "policy" decides its connections as net.connect).',
)
@click.option(
    "--image",
    "sandbox_image",
    metavar="NAME",
    help="Image for --sandbox, e.g. one from `agentguard sandbox build --pip PKG --tag NAME`. "
    "[default: the python sandbox image]",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def mcp_proxy(
    app: AppContext,
    server_name: str | None,
    agent: str | None,
    show_hidden: bool,
    approver_kind: str,
    policy_dir: Path | None,
    max_argument_bytes: int,
    http_address: str | None,
    user_request_meta: bool,
    sandbox_profile: str | None,
    sandbox_image: str | None,
    command: tuple[str, ...],
) -> None:
    """Serve MCP on stdin/stdout, fronting the real server COMMAND: every tools/call is decided by
    policy, sent for approval when a rule says ask, and audited; denied calls return a tool error
    naming the rule. Tools the agent may never call are left out of tools/list.

    \b
    Examples:
      agentguard mcp-proxy -- uvx mcp-server-time
      agentguard --policy ./permissions mcp-proxy --name git -- uvx mcp-server-git --repository .
      agentguard mcp-proxy --http 8765 -- uvx mcp-server-time    # http://127.0.0.1:8765/mcp
      agentguard mcp-proxy --sandbox default --image mcp-time -- mcp-server-time
    Policy names: mcp.<name>.<tool>, e.g.  p, *, mcp.time.*, *, allow
    The server's requests of the client: mcp-client.<name>.sampling|elicitation|roots
    (denied unless a rule allows or asks), e.g.  p, *, mcp-client.time.elicitation, *, ask
    """
    import anyio

    from agentguard.guard import Guard

    http = _http_address(http_address) if http_address is not None else None
    with reports_errors():
        if policy_dir is not None:
            app = dataclasses.replace(app, overrides={**app.overrides, "policy_dir": policy_dir})
        settings = app.settings
        try:
            from agentguard.integrations.mcp import McpProxy, server_name_from_command
            from agentguard.integrations.mcp._http import check_loopback
        except ImportError as exc:
            fail(str(exc))
        if http is not None:
            check_loopback(http[0])
        if sandbox_image is not None and sandbox_profile is None:
            raise click.UsageError("--image needs --sandbox PROFILE")
        guard = Guard.from_settings(settings, agent=agent)
        from agentguard.cli._mcp_sandbox import SandboxedServer

        contained: SandboxedServer | None = None
        try:
            guard.approver = _approver(approver_kind, settings, guard.audit)
            run_command = list(command)
            if sandbox_profile is not None:
                contained = SandboxedServer(settings, guard, sandbox_profile, sandbox_image, run_command)
                server_name = server_name or server_name_from_command(run_command)
                run_command = contained.argv
            proxy = McpProxy(
                guard,
                run_command,
                server_name=server_name,
                agent=agent,
                show_hidden=show_hidden,
                max_argument_bytes=max_argument_bytes,
                user_request_meta=user_request_meta,
                container_paths=contained.container_paths if contained is not None else None,
            )
            if contained is not None:
                contained.serve_for(agent or guard.agent, proxy.session_id)
            where = f" in sandbox {contained.describe()}" if contained is not None else ""
            click.echo(
                f"agentguard mcp-proxy: {' '.join(command)!r}{where} as mcp.{proxy.server_name}.*, policy "
                f"{settings.resolved_policy_dir()}, audit {settings.audit_path}, approvals: "
                f"{type(guard.approver).__name__}",
                err=True,
            )
            if http is None:
                anyio.run(proxy.serve_stdio)
            else:

                def ready(url: str) -> None:
                    click.echo(f"agentguard mcp-proxy: serving {url}", err=True)

                anyio.run(lambda: proxy.serve_http(*http, ready=ready))
        except ValueError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            _stopped()
        except BaseExceptionGroup as group:
            if group.split(KeyboardInterrupt)[0] is not None:
                _stopped()
            matched, _ = group.split(AgentGuardError)
            if matched is None:
                raise
            first: BaseException = matched
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from group
        finally:
            if contained is not None:
                contained.close()
            guard.close()

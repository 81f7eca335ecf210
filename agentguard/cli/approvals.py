"""``agentguard approvals`` and ``agentguard grants``: answer the approval queue from scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentguard.approval import (
    ApprovalDesk,
    ApprovalStore,
    Grant,
    GrantScope,
    QueuedRequest,
    SqliteApprovalStore,
    check_grant,
    grant_json,
    grant_reach,
    host_text,
    key_argument_text,
    open_store,
    parse_duration,
    render_rule,
    request_json,
    short_duration,
    short_refs,
    shown_json,
    shown_text,
)
from agentguard.cli.context import AppContext, pass_app, reports_errors
from agentguard.errors import ApprovalError
from agentguard.pipeline import Closeable

__all__ = ["approvals", "grants"]

_AS_HELP = "Approver identity recorded with the answer. [default: the OS user name]"


def _seen(text: str) -> Text:
    """A table cell an agent may have written: invisible characters as marks, and ``Text``, which
    Rich does not read as markup (``[rm -rf ~]`` in a command is shown, ``[/]`` does not fail)."""
    return Text(shown_text(text)[0])


@contextmanager
def _store(app: AppContext, *, readonly: bool = False) -> Iterator[ApprovalStore]:
    """The store (SQLite in the home, or the shared database); read-only for listing (works in a
    read-only home), else with the audit log, so whatever this command notices (abandoned requests)
    or changes is audited."""
    settings = app.settings
    if readonly:
        store = open_store(settings, readonly=True)
        try:
            yield store
        finally:
            store.close()
        return
    from agentguard.audit import open_audit

    audit = open_audit(settings)
    try:
        store = open_store(settings, audit=audit)
        try:
            yield store
            if isinstance(store, SqliteApprovalStore) and store.export_error:
                click.echo(f"warning: {store.export_error} (the grants in force are unaffected)", err=True)
        finally:
            store.close()
    finally:
        if isinstance(audit, Closeable):
            audit.close()


def _named(q: QueuedRequest) -> str:
    """The answered request's short id, with the host role that asked where the store knows it."""
    return q.id[:8] + (f"@{q.db_role}" if q.db_role else "")


def _json(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode())


@click.group()
def approvals() -> None:
    """Answer pending approval requests from the shared queue (the TUI is `agentguard approve`).

    \b
    IDs may be shortened to any unique prefix. On a shared database, where two hosts' requests share
    an id, name one as ID@ROLE (the list shows it so).
      agentguard approvals list
      agentguard approvals approve 3f2a
      agentguard approvals approve 3f2a --always pattern --pattern '/work/src/**' --expires 8h
      agentguard approvals deny 3f2a --reason "use the staging bucket"
    """


@approvals.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also show answered, timed-out and abandoned requests.")
@click.option("--limit", default=100, show_default=True, help="With --all: how many recent requests.")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"requests": [...]}.')
@pass_app
def list_requests(app: AppContext, show_all: bool, limit: int, as_json: bool) -> None:
    """List pending requests, oldest first."""
    with reports_errors(), _store(app, readonly=True) as store:
        found = store.recent(limit) if show_all else store.pending()
        now = store.now()
    if as_json:
        _json({"requests": [request_json(q) for q in found]})
        return
    if not found:
        click.echo("no pending approval requests" if not show_all else "no approval requests")
        return
    shown = short_refs(found)
    table = Table(box=None, pad_edge=False)
    for col in ("id", "state", "agent", "tool", "argument", "age", "left"):
        table.add_column(col, overflow="fold" if col == "argument" else "ellipsis")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max(len(s) for s in shown.values())  # an id@role is typed: never cut
    for q in found:
        left = (q.deadline - now).total_seconds()
        table.add_row(
            shown[q.ref],
            q.state.value,
            _seen(q.call.agent),
            _seen(q.call.tool),
            Text(key_argument_text(q.call, 60)),
            short_duration((now - q.submitted_at).total_seconds()),
            short_duration(left) if q.pending and left > 0 else "-",
        )
    Console(soft_wrap=False).print(table)


@approvals.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_app
def show_request(app: AppContext, request_id: str, as_json: bool) -> None:
    """Show one request: arguments, the rule that asked, its state."""
    with reports_errors(), _store(app, readonly=True) as store:
        q = store.lookup(request_id)
    data = request_json(q)
    if as_json:
        _json(data)
        return
    data["host"] = host_text(q) or q.owner.host  # the name the agent gave, and the role that asked
    shown = ("id", "state", "agent", "host", "tool", "rule", "rule_text", "reason", "sandbox_profile")
    for key in (*shown, "deadline"):
        click.echo(f"{key:16} {shown_text(str(data[key]))[0]}")
    click.echo("arguments:")
    click.echo(shown_json(orjson.dumps(q.call.arguments, option=orjson.OPT_INDENT_2).decode())[0])
    if not q.pending:
        click.echo(shown_text(f"answered by {q.approver} via {q.channel}: {q.reason or ''}")[0])


@approvals.command("approve")
@click.argument("request_id")
@click.option(
    "--always",
    "scope",
    type=click.Choice([s.value for s in GrantScope]),
    help="Also approve future calls: 'call' = this exact call, 'pattern' = this tool when its "
    "path/command/url matches --pattern, 'tool' = the whole tool for this agent.",
)
@click.option("--pattern", help="With --always pattern: the glob (default: suggested from the call).")
@click.option("--expires", help="With --always: the grant lapses after this long (90s, 30m, 8h, 7d, 2w).")
@click.option(
    "--all-hosts",
    is_flag=True,
    help="With --always on a shared database: the grant applies on every agent host, not only on the "
    "host (database role) that asked.",
)
@click.option(
    "--args", "edited", help="Approve an edited call: the new arguments as a JSON object (what runs)."
)
@click.option("--as", "who", help=_AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the answered request (and grant).")
@pass_app
def approve_request(
    app: AppContext,
    request_id: str,
    scope: str | None,
    pattern: str | None,
    expires: str | None,
    all_hosts: bool,
    edited: str | None,
    who: str | None,
    as_json: bool,
) -> None:
    """Approve a pending request (once, or always with a scope)."""
    if scope is None and (pattern or expires or all_hosts):
        raise click.UsageError("--pattern, --expires and --all-hosts need --always")
    if pattern and scope != GrantScope.PATTERN.value:
        raise click.UsageError("--pattern goes with --always pattern")
    if scope is not None and edited is not None:
        raise click.UsageError(
            "--args (an edited call) is approved once; it cannot be combined with --always"
        )
    with reports_errors():
        arguments: dict[str, Any] | None = None
        if edited is not None:
            try:
                parsed = orjson.loads(edited)
            except orjson.JSONDecodeError as exc:
                raise ApprovalError(f"--args is not valid JSON: {exc}", field="args") from exc
            if not isinstance(parsed, dict):
                raise ApprovalError("--args must be a JSON object", field="args")
            arguments = parsed
        expires_in = parse_duration(expires) if expires else None
        with _store(app) as store:
            desk = ApprovalDesk(store, approver=who, channel="cli")
            q = store.lookup(request_id)
            grant: Grant | None = None
            if scope is not None:
                q, grant = desk.approve_always(
                    q.ref, GrantScope(scope), pattern=pattern, expires_in=expires_in, all_hosts=all_hosts
                )
            else:
                q = desk.approve(q.ref, edited_arguments=arguments)
            now = store.now()
    if as_json:
        _json({"request": request_json(q), "grant": grant_json(grant, now) if grant else None})
        return
    click.echo(
        shown_text(f"approved {_named(q)} ({q.call.agent} {q.call.tool})")[0]
        + (" with edited arguments" if arguments else "")
    )
    if grant is not None:
        click.echo(f"grant {grant.id[:8]}: {render_rule(grant)}" + grant_reach(grant))


@approvals.command("deny")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why; the agent receives it as the tool's error result.")
@click.option("--as", "who", help=_AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the answered request.")
@pass_app
def deny_request(app: AppContext, request_id: str, reason: str, who: str | None, as_json: bool) -> None:
    """Deny a pending request with a reason."""
    with reports_errors(), _store(app) as store:
        desk = ApprovalDesk(store, approver=who, channel="cli")
        q = desk.deny(store.lookup(request_id).ref, reason)
    if as_json:
        _json({"request": request_json(q)})
        return
    click.echo(shown_text(f"denied {_named(q)} ({q.call.agent} {q.call.tool}): {reason}")[0])


@click.group()
def grants() -> None:
    """Standing approvals ("approve always"), enforced as policy rules from the approval store
    (<home>/approvals.db); <home>/grants.csv is an export of them.

    \b
      agentguard grants list
      agentguard grants revoke 9c1e
    """


@grants.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also show revoked and expired grants.")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"grants": [...]}.')
@pass_app
def list_grants(app: AppContext, show_all: bool, as_json: bool) -> None:
    """List grants: who granted what, when, until when. A grant whose rule cannot be enforced
    (it does not compile) is flagged: the policy skips it."""
    with reports_errors(), _store(app, readonly=True) as store:
        found = store.grants(include_inactive=show_all)
        now = store.now()
    if as_json:
        _json({"grants": [grant_json(g, now) for g in found]})
        return
    for g in found:
        problem = check_grant(g)
        if problem is not None:
            click.echo(f"warning: grant {g.id[:8]} is skipped by the policy: {problem}", err=True)
    if not found:
        click.echo("no grants")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("id", "state", "agent", "tool", "condition", "by", "created", "expires"):
        table.add_column(col, overflow="fold" if col == "condition" else "ellipsis")
    for g in found:
        table.add_row(
            g.id[:8],
            g.state(now),
            _seen(g.agent + grant_reach(g)),
            _seen(g.tool),
            _seen(g.condition),
            _seen(g.created_by),
            g.created_at.strftime("%Y-%m-%d %H:%M"),
            g.expires_at.strftime("%Y-%m-%d %H:%M") if g.expires_at else "never",
        )
    Console(soft_wrap=False).print(table)


@grants.command("revoke")
@click.argument("grant_id")
@click.option("--as", "who", help=_AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the revoked grant.")
@pass_app
def revoke_grant(app: AppContext, grant_id: str, who: str | None, as_json: bool) -> None:
    """Revoke a grant; the policy stops applying it at the next call.

    Revoking a revoked grant is not an error: it finishes whatever an interrupted revocation left
    undone (the grants.csv export, the audit record).
    """
    with reports_errors(), _store(app) as store:
        started = store.now()
        grant = ApprovalDesk(store, approver=who, channel="cli").revoke(grant_id)
        now = store.now()
    if as_json:
        _json({"grant": grant_json(grant, now)})
        return
    earlier = grant.revoked_at is not None and grant.revoked_at < started
    by = f" (already revoked by {grant.revoked_by} at {grant.revoked_at:%Y-%m-%d %H:%M})" if earlier else ""
    click.echo(f"revoked grant {grant.id[:8]}{by}: {render_rule(grant)}")

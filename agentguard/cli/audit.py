"""``agentguard audit``: read, search and verify the hash-chained audit log."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from agentguard.audit import (
    CallIndex,
    acknowledge,
    filter_records,
    follow,
    follow_database,
    parse_since,
    query,
    read_database,
    read_database_last,
    read_last,
    verify,
    verify_database,
)
from agentguard.audit._open import database_witness
from agentguard.cli._audit_text import (
    record_line,
    record_row,
    record_table,
    report_text,
    segment_text,
    wide_console,
)
from agentguard.cli.context import AppContext, fail, pass_app, reports_errors
from agentguard.database import Database
from agentguard.errors import AuditError

__all__ = ["audit"]

_FILE_HELP = "Audit log to read. [default: <home>/audit.jsonl]"


def _path(app: AppContext, file: Path | None) -> Path:
    path = file if file is not None else app.settings.audit_path
    if not path.exists():
        fail(f"no audit log at {path}; run something through the guard first")
    if not path.is_file():
        fail(f"{path} is not a file")
    return path


def _database(app: AppContext, file: Path | None) -> Database | None:
    """The shared database when ``database_url`` is set and no ``--file`` names a local log."""
    url = app.settings.database_url
    if url is None or file is not None:
        return None
    return Database(url, max_size=1)


@click.group()
def audit() -> None:
    """Read and verify the audit log: every call, decision, approval and result, hash-chained.

    \b
    agentguard audit tail -n 20            the last 20 records
    agentguard audit tail -f               follow new records (Ctrl-C to stop)
    agentguard audit query --effect deny --since 1h
    agentguard audit verify                check nothing was edited, removed, inserted or reordered
    agentguard audit acknowledge --segment SEQ --reason "..."   after looking into that segment
    """


@audit.command()
@click.option(
    "-n",
    "--lines",
    "n",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many of the most recent records to show.",
)
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new records until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print raw records as JSON lines.")
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_HELP)
@pass_app
def tail(app: AppContext, n: int, follow_: bool, as_json: bool, file: Path | None) -> None:
    """Show the most recent records (and follow new ones with -f)."""
    with reports_errors():
        database = _database(app, file)
        if database is not None:
            path: Path | str = database.label
            records = read_database_last(database, n)
            new_records: Iterable[dict[str, Any]] = follow_database(database) if follow_ else ()
        else:
            path = _path(app, file)
            records = read_last(path, n)
            new_records = follow(path, from_end=True) if follow_ else ()
        index = CallIndex()
        if as_json:
            for record in records:
                click.echo(record_line(record))
        elif records:
            wide_console().print(record_table(records, index))
        elif not follow_:
            click.echo(f"{path}: no records yet")
        if not follow_:
            return
        try:
            for record in new_records:
                if as_json:
                    click.echo(record_line(record))
                else:
                    click.echo(record_row(record, index))
        except KeyboardInterrupt:
            return


@audit.command(name="query")
@click.option("--agent", help="Only calls made by this agent.")
@click.option("--tool", help="Only calls of this tool (e.g. fs.read).")
@click.option(
    "--effect",
    type=click.Choice(["allow", "ask", "deny"]),
    help="Only calls the policy decided this way (records from the decision on).",
)
@click.option("--event", help="Only this event; globs work: 'approval.*'.")
@click.option("--call-id", help="Only this call (a prefix such as the 8 characters tail shows is enough).")
@click.option(
    "--since", help="Only records this recent: 30s, 10m, 2h, 1d, or an ISO time (local if no zone)."
)
@click.option("--json", "as_json", is_flag=True, help="Print matching records as JSON lines.")
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_HELP)
@pass_app
def query_cmd(
    app: AppContext,
    agent: str | None,
    tool: str | None,
    effect: str | None,
    event: str | None,
    call_id: str | None,
    since: str | None,
    as_json: bool,
    file: Path | None,
) -> None:
    """Search the log by agent, tool, effect, event, call or time.

    Filters combine (all must match). Agent, tool and effect apply to every record of a matching
    call, not only to the record that names them.
    """
    when: datetime | None = None
    if since is not None:
        try:
            when = parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    with reports_errors():
        index = CallIndex()
        filters: dict[str, Any] = {
            "agent": agent,
            "tool": tool,
            "effect": effect,
            "event": event,
            "call_id": call_id,
            "since": when,
        }
        database = _database(app, file)
        if database is not None:
            matches = filter_records(read_database(database), index, **filters)
        else:
            matches = query(_path(app, file), index=index, **filters)
        if as_json:
            for record in matches:
                click.echo(record_line(record))
            return
        rows = list(matches)
        if not rows:
            click.echo("no matching records", err=True)
            return
        wide_console().print(record_table(rows, index))
        click.echo(f"{len(rows)} record(s)")


def _check_heads(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for head in value:
        if len(head) != 64 or not all(c in "0123456789abcdef" for c in head):
            raise click.BadParameter(f"{head!r} is not a chain head (64 lowercase hex digits)")
    return value


@audit.command(name="verify")
@click.argument("file_arg", metavar="[FILE]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the verification report as one JSON object.")
@click.option(
    "--head",
    "heads",
    multiple=True,
    callback=_check_heads,
    help="A chain head printed earlier and kept elsewhere: it must still be a record's hash (repeatable).",
)
@pass_app
def verify_cmd(
    app: AppContext, file_arg: Path | None, file: Path | None, as_json: bool, heads: tuple[str, ...]
) -> None:
    """Check the hash chain: exit 0 intact, 1 tampered, torn or unacknowledged, 2 unreadable.

    Exit 1 names the first bad record (line, seq, why): edited, deleted, inserted, reordered, or
    cut off the end (caught by the checkpoint file beside the log), or a torn last line. It also
    lists every segment a writer started after finding the file changed in a way no crash
    produces; exit 1 until each is acknowledged (`audit acknowledge`), listed for ever after.

    Detects changes made with the log's own format, not a full rewrite of the file together with its
    checkpoint: keep the printed chain head somewhere else and pass it back with --head to detect
    that too (and records cut off together with the checkpoint file).
    """
    with reports_errors():
        database = _database(app, file_arg or file)
        if database is not None:
            if heads:  # not silently ignored: the database's chain is anchored by this host's witness
                fail("--head checks an audit file; the log here is a database (its witness anchors it)")
            _verify_database(database, as_json, database_witness(app.settings))
        path = _path(app, file_arg or file)
        try:
            report = verify(path, heads=heads)
        except AuditError as exc:
            fail(str(exc))
            return
    if as_json:
        click.echo(orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode())
    elif report.ok:
        click.echo(f"intact: {report.records_verified} records, chain head {report.head or '(empty log)'}")
        for seg in report.segments:
            click.echo(segment_text(seg))
        if report.checkpoint.status == "missing":
            click.echo(
                f"note: no checkpoint beside {path}; whole records cut off the end would go unnoticed",
                err=True,
            )
    else:
        click.secho(report_text(report), fg="red", err=True)
    raise SystemExit(0 if report.ok else 1)


def _verify_database(database: Database, as_json: bool, witness: Path) -> None:
    """``audit verify`` of the database's chain: exit 0 intact, 1 tampered. This host's witness (the
    last row it appended) must still be there: rows cut off the end are noticed."""
    try:
        report = verify_database(database, witness=witness)
    except AuditError as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode())
    elif report.ok:
        head = report.head or "(empty log)"
        click.echo(f"intact: {report.records_verified} records in {report.source}, chain head {head}")
        if not witness.exists():
            click.echo(
                f"note: no witness at {witness} (this host appended nothing yet); rows cut off the "
                "end are noticed only by a host that appended them",
                err=True,
            )
    else:
        click.secho(
            f"TAMPERED: {report.source}: seq {report.first_bad_seq}: {report.reason}\n"
            f"verified: {report.records_verified} record(s) intact before that",
            fg="red",
            err=True,
        )
    raise SystemExit(0 if report.ok else 1)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return f"uid {os.getuid()}"


@audit.command(name="acknowledge")
@click.option(
    "--reason", required=True, help="What you found and why writing may go on (recorded in the log)."
)
@click.option(
    "--segment",
    "segments",
    type=click.IntRange(min=0),
    multiple=True,
    help="The seq of a segment you looked into, as verify lists it (repeatable).",
)
@click.option("--all", "all_", is_flag=True, help="Acknowledge every unacknowledged segment, seen or not.")
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_HELP)
@pass_app
def acknowledge_cmd(
    app: AppContext, reason: str, segments: tuple[int, ...], all_: bool, file: Path | None
) -> None:
    """Acknowledge the segments `audit verify` reports, after looking into them.

    A writer starts a segment when the log or its checkpoint changed in a way no crash produces
    (records cut off or appended, the tail rewritten, the checkpoint rolled back or removed).
    `audit verify` fails until a person acknowledges each; the acknowledgement (your reason and
    user name) is itself a record in the chain, and verify keeps listing both. Name each segment
    you looked into with --segment: if another one is unacknowledged (started after you looked),
    nothing is acknowledged.
    """
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    if bool(segments) == all_:
        raise click.UsageError("name the segments you looked into (--segment SEQ, repeatable) or give --all")
    with reports_errors():
        path = _path(app, file)
        done = acknowledge(path, reason=reason, by=_user(), segments=None if all_ else set(segments))
    if not done:
        click.echo(f"{path}: nothing to acknowledge")
        return
    for seg in done:
        click.echo(f"acknowledged: segment at line {seg.line} (seq {seg.seq}): {seg.reason}")

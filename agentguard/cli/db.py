"""``agentguard db``: the shared PostgreSQL database's schema (``upgrade``, ``status``)."""

from __future__ import annotations

import click

from agentguard.cli.context import AppContext, fail, pass_app, reports_errors

__all__ = ["db"]


def _database(app: AppContext) -> object:
    from agentguard.database import Database

    url = app.settings.database_url
    if url is None:
        fail("no database_url is set (agentguard.toml, AGENTGUARD_DATABASE_URL or --database-url)")
        raise AssertionError  # fail exits
    return Database(url, max_size=1)


@click.group()
def db() -> None:
    """The shared PostgreSQL database (set with --database-url / AGENTGUARD_DATABASE_URL)."""


@db.command()
@pass_app
def upgrade(app: AppContext) -> None:
    """Apply the schema migrations this agentguard ships that the database does not have yet."""
    from agentguard.database import Database
    from agentguard.database import upgrade as run_upgrade

    with reports_errors():
        database = _database(app)
        assert isinstance(database, Database)
        try:
            applied = run_upgrade(database)
        finally:
            database.close()
    if not applied:
        click.echo(f"{database.label}: schema up to date")
    for migration in applied:
        click.echo(f"{database.label}: applied {migration.version:04d}_{migration.name}")


@db.command()
@pass_app
def status(app: AppContext) -> None:
    """The database's schema version and whether this agentguard can use it (exit 1 if not)."""
    from agentguard.database import SCHEMA_VERSION, Database, check_schema, schema_version

    with reports_errors():
        database = _database(app)
        assert isinstance(database, Database)
        try:
            found = schema_version(database)
            click.echo(f"{database.label}: schema {found}, this agentguard needs {SCHEMA_VERSION}")
            check_schema(database)
        finally:
            database.close()


@db.command()
@click.option(
    "--agent",
    "agent_role",
    required=True,
    help="The shared agent role: each --host role is a member of it (hosts with no role of their own "
    "log in as it).",
)
@click.option("--approver", "approver_role", required=True, help="The database role approvers log in as.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="ROLE",
    help="Also create a login role for one agent host, a member of the agent role (repeat per host; "
    "an existing role is kept). Give it a password or certificate yourself.",
)
def roles(agent_role: str, approver_role: str, hosts: tuple[str, ...]) -> None:
    """Print the SQL that gives an agent role and an approver role their privileges (no more).

    Agents submit requests, time them out and append audit records; they cannot answer a request or
    write a grant (row-level security). Each agent host should log in as a role of its own (--host):
    the database stamps every row a host writes with that role, and a host can then change or remove
    only its own rows, and the approver sees which host really asked. Hosts that log in as the agent
    role itself still work, as one shared identity. Nobody can change or delete audit rows. Run it as
    the owner; running it again (to add hosts) is safe.
    """
    from agentguard.database import roles_sql

    with reports_errors():
        click.echo(roles_sql(agent=agent_role, approver=approver_role, hosts=hosts))

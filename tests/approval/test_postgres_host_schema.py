"""A host cannot plant code that an approver runs. Databases created before PostgreSQL 15 (and
clusters upgraded from one) let every role create objects in schema ``public``; a host role could then
define ``public.pg_advisory_xact_lock(integer)``, a closer match than ``pg_catalog``'s ``bigint`` one
for the approver's own call, and have it run with the approver's privileges (here: write a grant for
every host). The roles SQL takes ``CREATE`` on ``public`` from ``PUBLIC``. Real PostgreSQL roles."""

from __future__ import annotations

import contextlib
import glob
import shutil
import subprocess

import psycopg
import pytest

from agentguard.approval import PostgresApprovalStore
from agentguard.database import roles_sql
from agentguard.testing import MemoryAudit

from .test_postgres_hosts import Fleet, fleet  # noqa: F401 - the fixture

_TROJAN = """
CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO public.ag_grants (id, agent, tool, scope, condition, created_by, created_at)
    VALUES ('planted', '*', 'shell.run', 'tool', '*', 'mallory', 0);
$$
"""


def test_a_host_cannot_plant_a_function_the_approver_runs(fleet: Fleet) -> None:  # noqa: F811
    approver = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(fleet.owner, autocommit=True) as owner:  # the default before PostgreSQL 15
        owner.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        owner.execute(roles_sql(agent=fleet.agent, approver=approver))  # the roles SQL, run again
    with psycopg.connect(fleet.a, autocommit=True) as conn, contextlib.suppress(psycopg.Error):
        conn.execute(_TROJAN)
    with psycopg.connect(fleet.a, autocommit=True) as conn:  # something owed, for the approver to hand over
        conn.execute("INSERT INTO ag_outbox (event, fields) VALUES ('approval.abandoned', '{}')")
    with PostgresApprovalStore(fleet.approver, sweep=False, audit=MemoryAudit()) as store:
        assert [g.id for g in store.grants()] == []


def test_the_roles_sql_refuses_to_run_over_a_planted_function(fleet: Fleet) -> None:  # noqa: F811
    approver = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(fleet.owner, autocommit=True) as owner:
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {fleet.role_a}")  # planted before the rerun
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        conn.execute(_TROJAN)
    with (
        psycopg.connect(fleet.owner, autocommit=True) as owner,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="made by an agent host role"),
    ):
        owner.execute(roles_sql(agent=fleet.agent, approver=approver))


def _psql(url: str, sql: str) -> subprocess.CompletedProcess[str]:
    """The roles SQL piped to ``psql`` as docs/deployment.md says (no ON_ERROR_STOP: psql goes on)."""
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if found is None:
        pytest.skip("no psql")
    return subprocess.run(
        [found, "-X", url], input=sql, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_roles_sql_piped_to_psql_stops_at_its_first_error(fleet: Fleet) -> None:  # noqa: F811
    """psql runs on after an error: the refusal over a planted function was printed, and then every
    grant, policy and new host role after it was made anyway (the host's function still there)."""
    approver = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(fleet.owner, autocommit=True) as owner:
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {fleet.role_a}")
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        conn.execute(_TROJAN)
    newcomer = f"host_c_{fleet.role_a[-8:]}"
    try:
        done = _psql(fleet.owner, roles_sql(agent=fleet.agent, approver=approver, hosts=[newcomer]))
        assert "made by an agent host role" in done.stderr
        with psycopg.connect(fleet.owner, autocommit=True) as owner:
            made = owner.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (newcomer,)).fetchone()
        assert made == (0,)  # nothing after the refusal ran
    finally:
        with psycopg.connect(fleet.owner, autocommit=True) as owner:
            owner.execute(f"DROP ROLE IF EXISTS {newcomer}")


def test_the_roles_sql_waits_for_a_table_a_host_holds_at_most_5_s(fleet: Fleet) -> None:  # noqa: F811
    """A host reading a table in a transaction left open kept the roles SQL's CREATE POLICY waiting for
    ever (and every later session queued behind it). Its lock waits are bounded; nothing is applied."""
    approver = fleet.approver.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(fleet.a) as holder:
        holder.execute("SELECT count(*) FROM ag_grants")  # and the transaction stays open
        try:
            done = _psql(fleet.owner, roles_sql(agent=fleet.agent, approver=approver))
        except subprocess.TimeoutExpired:
            pytest.fail("the roles SQL still waited after 60 s: its lock waits are not bounded")
        assert "lock timeout" in done.stderr
        holder.rollback()

"""A host cannot plant code that an approver runs. Databases created before PostgreSQL 15 (and
clusters upgraded from one) let every role create objects in schema ``public``; a host role could then
define ``public.pg_advisory_xact_lock(integer)``, a closer match than ``pg_catalog``'s ``bigint`` one
for the approver's own call, and have it run with the approver's privileges (here: write a grant for
every host). The roles SQL takes ``CREATE`` on ``public`` from ``PUBLIC``. Real PostgreSQL roles."""

from __future__ import annotations

import contextlib

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

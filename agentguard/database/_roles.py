"""The privileges a deployment gives its database roles: agents submit and append, approvers answer.

Run the printed SQL as the owner of the tables (after ``agentguard db upgrade``); the owner itself is
not limited by it and should not be what agents or approvers log in as.

- each agent host logs in as a host role of its own, a member of the shared agent role. Every row an
  agent writes carries its login role (``db_role``, default ``session_user``: ``SET ROLE`` cannot
  change it), and row-level security lets a host insert only rows naming itself and change or remove
  only its own: submit requests and mark them timed out or abandoned (never answer one, never write a
  grant), keep its heartbeat, hand over the audit records it owes (through
  ``ag_outbox_handed_over``: a table-level ``DELETE`` would let it lock the whole table), append to
  the audit log. It reads only its own requests, heartbeats and owed records, and the grants that
  apply to it (another host's requests hold that host's tool arguments); it reads the whole audit
  log (the chain's head);
- a host that logs in as the shared agent role itself still works, but every such host is one identity
  to the database (the guarantees between them are those of a single host);
- the approver role reads every row, answers requests and writes grants, sweeps any host's dead
  requests, hands over every owed audit record, and appends to the audit log;
- both read pushed policies; pushing one (``agentguard policy push``) is the owner's;
- neither can update, delete or truncate audit rows (the triggers refuse it for the owner too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agentguard.database._connect import DatabaseError

__all__ = ["roles_sql"]

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # whole name only (fullmatch: "$" let a newline end it)
# Names that are not one role of the deployment's own: PUBLIC is every role, CURRENT_USER and the like
# are whoever runs the SQL (the owner), pg_* are the server's predefined roles (GRANT agent TO
# pg_monitor would make every monitoring login an agent host).
_NOT_A_ROLE = frozenset({"public", "none", "current_user", "current_role", "session_user", "user"})
# What an agent host may name when it inserts a request: not ``seq`` (a host writing the numbers the
# sequence hands out next made every other host's submits fail) nor an answer's columns.
_REQUEST_COLUMNS = (
    "id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host, owner_start, db_role"
)
_MINE = "db_role = session_user"  # the row names the login role of the session writing it
_APPLIES = "host_role IS NULL OR host_role = session_user"  # a grant for every host, or for this one


def _policies(agent: str, approver: str) -> str:
    both = f"{agent}, {approver}"
    policies = {
        "ag_requests": [
            f"ag_agent_read ON ag_requests FOR SELECT TO {agent} USING ({_MINE})",
            f"ag_agent_submit ON ag_requests FOR INSERT TO {agent} WITH CHECK (status = 'pending'"
            f" AND approver IS NULL AND grant_id IS NULL AND edited IS NULL AND {_MINE})",
            f"ag_agent_close ON ag_requests FOR UPDATE TO {agent} USING (status = 'pending' AND {_MINE})"
            " WITH CHECK (status IN ('timeout', 'abandoned') AND approver = 'agentguard'"
            f" AND grant_id IS NULL AND edited IS NULL AND {_MINE})",
            f"ag_approver_all ON ag_requests FOR ALL TO {approver} USING (true) WITH CHECK (true)",
        ],
        "ag_owners": [
            f"ag_owners_read ON ag_owners FOR SELECT TO {approver} USING (true)",
            f"ag_owners_own ON ag_owners FOR SELECT TO {agent} USING ({_MINE})",
            f"ag_owners_add ON ag_owners FOR INSERT TO {agent} WITH CHECK ({_MINE})",
            f"ag_owners_beat ON ag_owners FOR UPDATE TO {agent} USING ({_MINE}) WITH CHECK ({_MINE})",
        ],
        "ag_grants": [
            f"ag_grants_agent_read ON ag_grants FOR SELECT TO {agent} USING ({_APPLIES})",
            f"ag_grants_approver ON ag_grants FOR ALL TO {approver} USING (true) WITH CHECK (true)",
        ],
        "ag_outbox": [
            f"ag_outbox_agent ON ag_outbox FOR ALL TO {agent} USING ({_MINE}) WITH CHECK ({_MINE})",
            f"ag_outbox_approver ON ag_outbox FOR ALL TO {approver} USING (true) WITH CHECK (true)",
        ],
        "ag_audit": [
            f"ag_audit_read ON ag_audit FOR SELECT TO {both} USING (true)",
            f"ag_audit_append ON ag_audit FOR INSERT TO {both} WITH CHECK ({_MINE})",
        ],
    }
    lines: list[str] = []
    for table, creates in policies.items():
        lines.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
        for create in creates:
            lines.append(f"DROP POLICY IF EXISTS {create.split(' ', 1)[0]} ON {table};")
            lines.append(f"CREATE POLICY {create};")
    return "\n".join(lines)


def _planted(agent: str) -> str:
    """Refuse to go on over functions or operators an agent host made in ``public`` (possible where
    ``PUBLIC`` had ``CREATE`` there, the default before PostgreSQL 15): a closer overload of a function
    the approver calls runs with the approver's privileges."""
    # Not superusers: one is a member of every role. Role names are checked by roles_sql.
    hosts = (
        "SELECT oid FROM pg_catalog.pg_roles WHERE NOT rolsuper"  # noqa: S608
        f" AND pg_catalog.pg_has_role(oid, '{agent}', 'MEMBER')"
    )
    return (
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace = 'public'::regnamespace"  # noqa: S608
        f" AND proowner IN ({hosts}) UNION ALL SELECT FROM pg_catalog.pg_operator"
        f" WHERE oprnamespace = 'public'::regnamespace AND oprowner IN ({hosts})) THEN RAISE EXCEPTION"
        " 'schema public holds functions or operators made by an agent host role: drop them first'"
        " USING ERRCODE = 'insufficient_privilege'; END IF; END $$;"
    )


def _plain_agent(role: str, approver: str) -> str:
    """Refuse an agent login role that row-level security does not hold: a superuser, a role with
    ``BYPASSRLS``, or a member of the approver role (an existing role named by ``--host`` is kept, with
    whatever it already was)."""
    return (
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
        f"'{role}' AND (rolsuper OR rolbypassrls OR pg_catalog.pg_has_role(oid, '{approver}', 'MEMBER')))"
        f" THEN RAISE EXCEPTION 'role {role} cannot be an agent role: it is a superuser, bypasses row-level"
        " security or is a member of the approver role' USING ERRCODE = 'insufficient_privilege';"
        " END IF; END $$;"
    )


def host_sql(agent: str, approver: str, host: str) -> str:
    """A login role for one agent host, a member of ``agent`` (rerunnable: an existing role is kept)."""
    return (
        f"DO $$ BEGIN CREATE ROLE {host} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
        f"{_plain_agent(host, approver)}\n"
        f"GRANT {agent} TO {host};"
    )


def roles_sql(*, agent: str, approver: str, hosts: Iterable[str] = ()) -> str:
    """The ``GRANT``/``CREATE POLICY`` statements for an ``agent`` role and an ``approver`` role, and a
    login role for each of ``hosts`` (members of ``agent``; give each a password or certificate)."""
    hosts = list(hosts)
    for role in (agent, approver, *hosts):
        if not _ROLE.fullmatch(role):
            raise DatabaseError(f"{role!r} is not a plain lower-case role name")
        if role in _NOT_A_ROLE or role.startswith("pg_"):
            raise DatabaseError(f"{role!r} is not a role of its own (a reserved or predefined name)")
    if agent == approver:
        raise DatabaseError("the agent and approver roles must differ (or nothing separates them)")
    if len(set(hosts)) != len(hosts) or {agent, approver} & set(hosts):
        raise DatabaseError("each host needs a role of its own, other than the agent and approver roles")
    both = f"{agent}, {approver}"
    grants = f"""
REVOKE CREATE ON SCHEMA public FROM PUBLIC, {both};
{_planted(agent)}
GRANT USAGE ON SCHEMA public TO {both};
GRANT SELECT ON agentguard_schema, ag_requests, ag_grants, ag_meta, ag_owners, ag_audit TO {both};
GRANT SELECT ON ag_policy_versions, ag_policy_files TO {both};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {both};
GRANT INSERT ON ag_audit TO {both};
REVOKE UPDATE, DELETE, TRUNCATE ON ag_audit FROM {both};
GRANT SELECT ON ag_outbox TO {both};
GRANT DELETE, INSERT ON ag_outbox TO {approver};
REVOKE DELETE ON ag_outbox FROM {agent};
REVOKE INSERT, UPDATE ON ag_owners, ag_requests, ag_outbox FROM {agent};
GRANT INSERT, UPDATE (seen_at) ON ag_owners TO {agent};
GRANT INSERT ({_REQUEST_COLUMNS}) ON ag_requests TO {agent};
GRANT UPDATE (status, approver, channel, reason, resolved_at) ON ag_requests TO {agent};
GRANT INSERT (event, fields, db_role) ON ag_outbox TO {agent};
GRANT UPDATE ON ag_requests TO {approver};
GRANT INSERT, UPDATE ON ag_grants TO {approver};
GRANT UPDATE ON ag_meta TO {approver};
""".strip()  # noqa: S608 - role names are checked above; DDL takes no parameters
    hosts_sql = (host_sql(agent, approver, host) for host in hosts)
    parts = [_plain_agent(agent, approver), grants, _policies(agent, approver), *hosts_sql]
    return "\n".join([_BEGIN, *parts, "COMMIT;"])


# All or nothing: piped to psql (which runs on after an error), a refusal above would otherwise be
# printed and everything after it applied anyway. Lock waits are bounded: a host reading a table in a
# transaction it leaves open would hold CREATE POLICY, and every session queued behind it, for ever.
_BEGIN = "BEGIN;\nSET LOCAL lock_timeout = '5s';"

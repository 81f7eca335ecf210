"""The privileges a deployment gives its database roles: agents submit and append, approvers answer.

Run the printed SQL as the owner of the tables (after ``agentguard db upgrade``); the owner itself is
not limited by it and should not be what agents or approvers log in as.

- the agent role reads everything it needs, submits requests, marks its own requests timed out or
  abandoned, keeps its heartbeat, hands over owed audit records and appends to the audit log. Row-level
  security on ``ag_requests`` lets it change a request only from ``pending`` to ``timeout`` or
  ``abandoned``: it cannot answer a request (its own included) and cannot write a grant;
- the approver role answers requests and writes grants, and appends to the audit log;
- both read pushed policies; pushing one (``agentguard policy push``) is the owner's;
- neither can update, delete or truncate audit rows (the triggers refuse it for the owner too).
"""

from __future__ import annotations

import re

from agentguard.database._connect import DatabaseError

__all__ = ["roles_sql"]

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def roles_sql(*, agent: str, approver: str) -> str:
    """The ``GRANT``/``CREATE POLICY`` statements for an ``agent`` role and an ``approver`` role."""
    for role in (agent, approver):
        if not _ROLE.match(role):
            raise DatabaseError(f"{role!r} is not a plain lower-case role name")
    if agent == approver:
        raise DatabaseError("the agent and approver roles must differ (or nothing separates them)")
    both = f"{agent}, {approver}"
    return f"""
GRANT USAGE ON SCHEMA public TO {both};
GRANT SELECT ON agentguard_schema, ag_requests, ag_grants, ag_meta, ag_owners, ag_audit TO {both};
GRANT SELECT ON ag_policy_versions, ag_policy_files TO {both};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {both};
GRANT INSERT ON ag_audit TO {both};
REVOKE UPDATE, DELETE, TRUNCATE ON ag_audit FROM {both};
GRANT SELECT, INSERT, DELETE ON ag_outbox TO {both};
GRANT INSERT, UPDATE ON ag_owners TO {agent};
GRANT INSERT, UPDATE ON ag_requests TO {agent};
GRANT UPDATE ON ag_requests TO {approver};
GRANT INSERT, UPDATE ON ag_grants TO {approver};
GRANT UPDATE ON ag_meta TO {approver};
ALTER TABLE ag_requests ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS ag_agent_read ON ag_requests;
DROP POLICY IF EXISTS ag_agent_submit ON ag_requests;
DROP POLICY IF EXISTS ag_agent_close ON ag_requests;
DROP POLICY IF EXISTS ag_approver_all ON ag_requests;
CREATE POLICY ag_agent_read ON ag_requests FOR SELECT TO {agent} USING (true);
CREATE POLICY ag_agent_submit ON ag_requests FOR INSERT TO {agent}
    WITH CHECK (status = 'pending' AND approver IS NULL AND grant_id IS NULL AND edited IS NULL);
CREATE POLICY ag_agent_close ON ag_requests FOR UPDATE TO {agent}
    USING (status = 'pending')
    WITH CHECK (status IN ('timeout', 'abandoned') AND approver = 'agentguard' AND grant_id IS NULL
                AND edited IS NULL);
CREATE POLICY ag_approver_all ON ag_requests FOR ALL TO {approver} USING (true) WITH CHECK (true);
""".strip()  # noqa: S608 - role names are checked above; DDL takes no parameters

-- A host reads only its own requests (another host's hold that host's tool names and arguments, which
-- may be secrets), its own heartbeats, and the grants that apply to it; approvers read every row. The
-- roles SQL (`agentguard db roles`) makes these policies; a database it already set up gets them here,
-- so upgrading closes the reads without a rerun. Role names are taken from the policies it made
-- (none: the roles SQL was never run, and makes them itself when it is).
DO $$
DECLARE
    agent_role name;
    approver_role name;
BEGIN
    SELECT r.rolname INTO agent_role FROM pg_catalog.pg_policy p
        JOIN pg_catalog.pg_roles r ON r.oid = ANY (p.polroles)
        WHERE p.polname = 'ag_agent_read' AND p.polrelid = 'ag_requests'::regclass;
    SELECT r.rolname INTO approver_role FROM pg_catalog.pg_policy p
        JOIN pg_catalog.pg_roles r ON r.oid = ANY (p.polroles)
        WHERE p.polname = 'ag_approver_all' AND p.polrelid = 'ag_requests'::regclass;
    IF agent_role IS NULL OR approver_role IS NULL THEN
        RETURN;
    END IF;
    ALTER POLICY ag_agent_read ON ag_requests USING (db_role = session_user);
    DROP POLICY IF EXISTS ag_owners_read ON ag_owners;
    DROP POLICY IF EXISTS ag_owners_own ON ag_owners;
    EXECUTE format('CREATE POLICY ag_owners_read ON ag_owners FOR SELECT TO %I USING (true)', approver_role);
    EXECUTE format('CREATE POLICY ag_owners_own ON ag_owners FOR SELECT TO %I USING (db_role = session_user)',
        agent_role);
    ALTER TABLE ag_grants ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS ag_grants_agent_read ON ag_grants;
    DROP POLICY IF EXISTS ag_grants_approver ON ag_grants;
    EXECUTE format('CREATE POLICY ag_grants_agent_read ON ag_grants FOR SELECT TO %I'
        ' USING (host_role IS NULL OR host_role = session_user)', agent_role);
    EXECUTE format('CREATE POLICY ag_grants_approver ON ag_grants FOR ALL TO %I USING (true) WITH CHECK (true)',
        approver_role);
END;
$$;

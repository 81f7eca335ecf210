-- Owed audit records are handed over through this function, not by DELETE on the table: a table-level
-- DELETE privilege also lets its holder LOCK TABLE ag_outbox IN ACCESS EXCLUSIVE MODE and keep it,
-- which stopped every approver's store from opening (its hand-over could not read the table) and
-- every sweep and grant (they owe records). The function deletes the rows named that the calling
-- login role may delete: its own (db_role = session_user, which SECURITY DEFINER leaves unchanged),
-- or any if that role holds DELETE on the table (the approver, the owner). It runs as the owner, so
-- it reads the table by its schema and name, with pg_temp last (a caller's temporary table or
-- function must not stand in).
DO $outer$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION %1$I.ag_outbox_handed_over(seqs bigint[]) RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            WITH gone AS (
                DELETE FROM %1$I.ag_outbox WHERE seq = ANY (seqs) AND (db_role = session_user
                    OR has_table_privilege(session_user, '%1$I.ag_outbox', 'DELETE'))
                RETURNING 1
            )
            SELECT count(*) FROM gone
        $$ $f$, current_schema());
END;
$outer$;
-- A database the roles SQL already set up: the agent role (named by the policy it made) loses the
-- table-level DELETE here, so the upgrade alone closes the lock; the roles SQL no longer grants it.
DO $$
DECLARE
    agent_role name;
BEGIN
    SELECT r.rolname INTO agent_role FROM pg_catalog.pg_policy p
        JOIN pg_catalog.pg_roles r ON r.oid = ANY (p.polroles)
        WHERE p.polname = 'ag_outbox_agent' AND p.polrelid = 'ag_outbox'::regclass;
    IF agent_role IS NOT NULL THEN
        EXECUTE format('REVOKE DELETE ON ag_outbox FROM %I', agent_role);
    END IF;
END;
$$;

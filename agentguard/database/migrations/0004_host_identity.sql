-- Host identity the database checks: each agent host logs in as a role of its own (a member of the
-- shared agent role, see `agentguard db roles --host`), and every row an agent writes carries that
-- login role (session_user, which SET ROLE cannot change). Row-level security (roles SQL) lets a host
-- insert only rows naming itself and change only its own. Rows written before this step hold NULL:
-- no verified host (columns are added without a default first, so they are not filled with the
-- upgrading role's name).
ALTER TABLE ag_requests ADD COLUMN IF NOT EXISTS db_role text;
ALTER TABLE ag_requests ALTER COLUMN db_role SET DEFAULT session_user;
ALTER TABLE ag_outbox ADD COLUMN IF NOT EXISTS db_role text;
ALTER TABLE ag_outbox ALTER COLUMN db_role SET DEFAULT session_user;
-- A grant from a request is scoped to the host role that submitted it; NULL: every host.
ALTER TABLE ag_grants ADD COLUMN IF NOT EXISTS host_role text;
-- Heartbeats are keyed by the login role too, so one host cannot take over (or keep alive) another's
-- owner key. Heartbeats are rewritten every few seconds by live processes: old rows are dropped.
DELETE FROM ag_owners;
ALTER TABLE ag_owners ADD COLUMN IF NOT EXISTS db_role text NOT NULL DEFAULT session_user;
ALTER TABLE ag_owners DROP CONSTRAINT IF EXISTS ag_owners_pkey;
ALTER TABLE ag_owners ADD PRIMARY KEY (db_role, host, pid, start);
-- Who appended each audit row, beside the line's self-declared writer (not part of the hash chain).
ALTER TABLE ag_audit ADD COLUMN IF NOT EXISTS db_role text;
ALTER TABLE ag_audit ALTER COLUMN db_role SET DEFAULT session_user;
-- db_role is stamped, not trusted: whatever the policies in force (those of an older roles SQL know
-- nothing of it, until `agentguard db roles` is run again), a row is inserted only with the writing
-- session's login role and keeps it; the owner and the approver cannot rewrite it either.
CREATE FUNCTION ag_db_role_stamped() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.db_role IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'db_role is the login role of the session writing the row (%), not %',
            session_user, coalesce(NEW.db_role, 'NULL') USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.db_role IS DISTINCT FROM OLD.db_role THEN
        RAISE EXCEPTION 'db_role cannot be changed (it says which login role wrote the row)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ag_requests_db_role BEFORE INSERT OR UPDATE ON ag_requests
    FOR EACH ROW EXECUTE FUNCTION ag_db_role_stamped();
CREATE TRIGGER ag_owners_db_role BEFORE INSERT OR UPDATE ON ag_owners
    FOR EACH ROW EXECUTE FUNCTION ag_db_role_stamped();
CREATE TRIGGER ag_outbox_db_role BEFORE INSERT OR UPDATE ON ag_outbox
    FOR EACH ROW EXECUTE FUNCTION ag_db_role_stamped();
CREATE TRIGGER ag_audit_db_role BEFORE INSERT ON ag_audit
    FOR EACH ROW EXECUTE FUNCTION ag_db_role_stamped();

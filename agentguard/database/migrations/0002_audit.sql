-- One audit trail for every host: each row is exactly one line of the JSON Lines format (same hash
-- chain, one global chain; appends are serialised by an advisory lock, see docs/deployment.md).
CREATE TABLE ag_audit (
    seq bigint PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    line text NOT NULL,
    event text NOT NULL,
    call_id text,
    host text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ag_audit_call ON ag_audit (call_id) WHERE call_id IS NOT NULL;
-- Append-only for everyone, the table owner included: privileges keep the writer role from UPDATE,
-- DELETE and TRUNCATE; these triggers refuse them for roles that hold the privilege anyway.
CREATE FUNCTION ag_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the agentguard audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ag_audit_no_update BEFORE UPDATE OR DELETE ON ag_audit
    FOR EACH ROW EXECUTE FUNCTION ag_audit_refuse();
CREATE TRIGGER ag_audit_no_truncate BEFORE TRUNCATE ON ag_audit
    FOR EACH STATEMENT EXECUTE FUNCTION ag_audit_refuse();

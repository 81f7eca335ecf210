-- Request ids are unique per host role, not across the table: a call's id is in the audit trail every
-- host reads, and with one global UNIQUE (id) a host that inserted a request under another host's call
-- id first (or held its insert open) made that host's submit fail. Every answer, lookup and sweep now
-- names a row by id and db_role (the approver's "id@role" where hosts share an id).
-- Safe on a table with rows: ids unique across it are unique per role. Rows from before schema 4 hold
-- no role (NULL); they count as one role of their own here (coalesce), never as one each. The index
-- leads with id: lookups by id and id prefix use it as they used the old constraint's.
CREATE UNIQUE INDEX IF NOT EXISTS ag_requests_host_id ON ag_requests (id, coalesce(db_role, ''));
DO $$
DECLARE
    old_unique name;
BEGIN
    SELECT c.conname INTO old_unique FROM pg_catalog.pg_constraint c
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.conrelid = 'ag_requests'::regclass AND c.contype = 'u'
            AND cardinality(c.conkey) = 1 AND a.attname = 'id';
    IF old_unique IS NOT NULL THEN
        EXECUTE format('ALTER TABLE ag_requests DROP CONSTRAINT %I', old_unique);
    END IF;
END;
$$;

-- Every audit row is the next link of the one chain, whoever inserts it: agent hosts may append to
-- ag_audit directly (naming themselves), and a row with the largest seq there is (every later append
-- overflowed), a gap, a wrong prev or a hash that is not the line's would break the chain for every
-- host from then on. The checks are those of `agentguard audit verify`, made at insert: seq is the
-- head's plus one, the line names that seq and the head's hash as prev, ends in its stated hash, and
-- its body hashes to it. Taking the chain's advisory lock here serialises hand-made inserts with the
-- appenders' (which hold it already). The table is read by its own schema and name, never through the
-- search path (a session's temporary ag_audit would otherwise stand in for the head).
CREATE FUNCTION ag_audit_linked() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    suffix text := ',"hash":"' || NEW.hash || '"}';
    body text;
BEGIN
    PERFORM pg_advisory_xact_lock(1634165109);  -- 0x61676175, agentguard.audit._pg._CHAIN_LOCK
    EXECUTE format('SELECT seq, hash FROM %I.%I ORDER BY seq DESC LIMIT 1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO head_seq, head_hash;
    IF NEW.seq IS DISTINCT FROM coalesce(head_seq + 1, 0) THEN
        RAISE EXCEPTION 'audit row % is not the next link (the head is %)', NEW.seq, coalesce(head_seq, -1)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF right(NEW.line, length(suffix)) IS DISTINCT FROM suffix THEN
        RAISE EXCEPTION 'audit row % does not end in its stated hash', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    body := left(NEW.line, length(NEW.line) - length(suffix)) || '}';
    IF encode(sha256(convert_to(body, 'UTF8')), 'hex') IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION 'audit row % does not hash to its stated hash', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (body::json ->> 'seq') IS DISTINCT FROM NEW.seq::text
        OR (body::json ->> 'prev') IS DISTINCT FROM coalesce(head_hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'audit row % does not name its seq and the head''s hash', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ag_audit_linked BEFORE INSERT ON ag_audit FOR EACH ROW EXECUTE FUNCTION ag_audit_linked();

-- The shared approval queue and grants (the PostgreSQL form of approvals.db, same columns).
CREATE TABLE ag_meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO ag_meta (key, value) VALUES ('grants_version', 0);
CREATE TABLE ag_requests (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    agent text NOT NULL,
    tool text NOT NULL,
    request text NOT NULL,
    submitted_at double precision NOT NULL,
    deadline double precision NOT NULL,
    owner_pid integer NOT NULL,
    owner_host text NOT NULL,
    owner_start text,
    status text NOT NULL DEFAULT 'pending',
    approver text,
    channel text,
    reason text,
    edited text,
    scope text,
    grant_id text,
    resolved_at double precision
);
CREATE INDEX ag_requests_pending ON ag_requests (seq) WHERE status = 'pending';
CREATE TABLE ag_grants (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    agent text NOT NULL,
    tool text NOT NULL,
    scope text NOT NULL,
    condition text NOT NULL,
    created_by text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    request_id text,
    revoked_at double precision,
    revoked_by text
);
-- Audit records owed for a change, written in the change's transaction (as in approvals.db).
CREATE TABLE ag_outbox (seq bigserial PRIMARY KEY, event text NOT NULL, fields text NOT NULL);
-- Agent processes that own pending requests say they are alive here (database clock), so an owner on
-- another host whose heartbeat stops is known dead without reaching that host.
CREATE TABLE ag_owners (
    host text NOT NULL,
    pid integer NOT NULL,
    start text NOT NULL DEFAULT '',
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (host, pid, start)
);

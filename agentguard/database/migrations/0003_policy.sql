-- Policies pushed to the database (`agentguard policy push DIR`): each push is a new version holding the
-- folder's files exactly as they were (model.conf, *.csv, facts.toml, outputs.toml), so a rule keeps its
-- file name and line number and `policy explain` still says where it came from.
CREATE TABLE ag_policy_versions (
    version bigserial PRIMARY KEY,
    pushed_at timestamptz NOT NULL DEFAULT now(),
    pushed_by text NOT NULL,
    source text NOT NULL,
    digest text NOT NULL
);
CREATE TABLE ag_policy_files (
    version bigint NOT NULL REFERENCES ag_policy_versions (version),
    name text NOT NULL,
    content text NOT NULL,
    PRIMARY KEY (version, name)
);

-- Rate limits shared by every node of a deployment on PostgreSQL (issue
-- 17): fixed windows per policy and key, so N nodes do not allow N times
-- the limit. The key is an HMAC of the user name, address or device under
-- the server's token key, never the name or address itself. (SQLite is
-- one node: its limits stay in memory, and this table stays empty.)
CREATE TABLE rate_limits (
    policy  TEXT NOT NULL,
    key     TEXT NOT NULL,
    started BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (policy, key)
);
CREATE INDEX rate_limits_started ON rate_limits (started);

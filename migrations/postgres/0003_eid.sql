-- ID tokens from eID brokers that have been used for a sign-up, by SHA-256
-- of the token, kept until the token expires: a replayed token is refused.
CREATE TABLE used_id_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_id_tokens_expiry ON used_id_tokens (expires_at);

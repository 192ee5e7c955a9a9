-- eID logins the server makes for the web app (issue 14): the server is the
-- confidential OpenID Connect client (authorization code with PKCE), so
-- the broker's tokens never reach the page. A row lives from
-- POST /v1/eid/flows to the sign-up or login that spends it (10 minutes at
-- most). Nothing here is a secret or personal data in clear: the page's
-- handle and the OAuth `state` are stored as SHA-256; the PKCE verifier is
-- derived from the server's key and the handle, never stored; the ID token
-- is kept only as its hash (for replay) and the national id only as the
-- keyed hash invitations use.
CREATE TABLE eid_flows (
    id               BYTEA PRIMARY KEY NOT NULL CHECK (octet_length(id) = 32),
    state_hash       BYTEA NOT NULL UNIQUE CHECK (octet_length(state_hash) = 32),
    nonce            TEXT NOT NULL,
    purpose          TEXT NOT NULL CHECK (purpose IN ('join', 'login')),
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    -- Set when the broker sent the browser back: either the identity
    -- (issuer … token_expires_at) or a reason word in `failure`.
    completed_at     BIGINT,
    failure          TEXT,
    issuer           TEXT,
    subject          TEXT,
    national_id_hmac BYTEA,
    assurance        TEXT CHECK (assurance IN ('low', 'substantial', 'high')),
    id_token_hash    BYTEA,
    token_expires_at BIGINT,
    -- Set by the sign-up or login that used it (once).
    used_at          BIGINT
);
CREATE INDEX eid_flows_expiry ON eid_flows (expires_at);

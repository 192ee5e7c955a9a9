-- Organisations, teams, accounts, devices, sessions, invitations, identities
-- and consents (issue 3). Nothing here holds a national id number, a
-- password, a token or a private key: only keyed hashes, password hashes
-- (argon2id PHC strings), token hashes and public keys.
-- Times are Unix seconds. Identifiers are UUID strings.

CREATE TABLE organisations (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    root_public_key BYTEA NOT NULL CHECK (octet_length(root_public_key) = 32),
    created_at      BIGINT NOT NULL
);

-- The one-time code that lets the first admin register an organisation.
-- Only its SHA-256 is kept; a used code has used_at set.
CREATE TABLE enrolment_codes (
    code_hash  BYTEA PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY NOT NULL,
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- kind: 'staff' or 'citizen'. roles: bit set of the protocol's Roles
-- (staff 1, record clerk 2, admin 4); 0 for citizens.
-- assurance: a citizen's identity level ('unverified', 'low',
-- 'substantial', 'high'); NULL for staff.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    kind          TEXT NOT NULL CHECK (kind IN ('staff', 'citizen')),
    username      TEXT UNIQUE,
    password_hash TEXT,
    display_name  TEXT NOT NULL,
    roles         BIGINT NOT NULL DEFAULT 0,
    assurance     TEXT CHECK (assurance IN ('unverified', 'low', 'substantial', 'high')),
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT,
    CHECK ((kind = 'staff') = (username IS NOT NULL AND password_hash IS NOT NULL)),
    CHECK ((kind = 'citizen') = (assurance IS NOT NULL))
);
CREATE INDEX accounts_org ON accounts (org_id);

CREATE TABLE team_members (
    team_id    TEXT NOT NULL REFERENCES teams (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (team_id, account_id)
);
CREATE INDEX team_members_account ON team_members (account_id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    identity_key  BYTEA NOT NULL UNIQUE CHECK (octet_length(identity_key) = 32),
    agreement_key BYTEA NOT NULL CHECK (octet_length(agreement_key) = 32),
    label         TEXT NOT NULL,
    certificate   BYTEA,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX devices_account ON devices (account_id);

-- One row per login of a device: a refresh-token family. Revoking it (or
-- the device) ends every access token issued under it at once.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_why TEXT
);
CREATE INDEX sessions_device ON sessions (device_id);

-- Refresh tokens, by SHA-256. A token is spent when used; presenting a
-- spent token again revokes its whole session (family).
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    issued_at  BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Invitation codes: `handle` is the code's first group (not secret, used to
-- find the row and count failures); `code_hash` is SHA-256 of the whole
-- normalised code. national_id_hmac is HMAC-SHA256 under the server's key.
CREATE TABLE invitations (
    id               TEXT PRIMARY KEY NOT NULL,
    handle           TEXT NOT NULL UNIQUE,
    code_hash        BYTEA NOT NULL,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    team_id          TEXT NOT NULL REFERENCES teams (id),
    created_by       TEXT NOT NULL REFERENCES accounts (id),
    national_id_hmac BYTEA NOT NULL,
    display_name     TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    failed_attempts  BIGINT NOT NULL DEFAULT 0,
    redeemed_at      BIGINT,
    redeemed_by      TEXT REFERENCES accounts (id)
);
CREATE INDEX invitations_team ON invitations (team_id);

-- Verified eID identities (issuer + subject) linked to a citizen account,
-- and the keyed hash of the national id the account was invited under.
CREATE TABLE citizen_identities (
    account_id       TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    national_id_hmac BYTEA NOT NULL,
    issuer           TEXT,
    subject          TEXT,
    UNIQUE (issuer, subject)
);
CREATE UNIQUE INDEX citizen_identities_national_id ON citizen_identities (national_id_hmac);

CREATE TABLE consents (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    version      TEXT NOT NULL,
    text_sha256  TEXT NOT NULL,
    accepted_at  BIGINT NOT NULL,
    withdrawn_at BIGINT,
    PRIMARY KEY (account_id, accepted_at, version)
);

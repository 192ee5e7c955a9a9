-- Records (issue 6): the hash-chained audit log, journal receipts, per-team
-- retention and holds. Nothing here holds message text, a name, a national
-- id number or a key: the audit log names objects by id only.
-- Times are Unix seconds unless the column says _ms.

-- The audit log: append-only, one chain for the whole server. idx counts
-- 1, 2, 3, … without gaps. hash = SHA-256 over the previous entry's hash and
-- this entry's fields (docs/ARCHITECTURE.md, "Audit log"); detail is a JSON
-- object of ids and numbers. No foreign keys: entries outlive what they name.
CREATE TABLE audit_log (
    idx       BIGINT PRIMARY KEY NOT NULL CHECK (idx >= 1),
    at_ms     BIGINT NOT NULL,
    org_id    TEXT,
    actor     TEXT NOT NULL,
    device_id TEXT,
    action    TEXT NOT NULL,
    subject   TEXT,
    detail    TEXT NOT NULL,
    prev_hash BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash      BYTEA NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_actor ON audit_log (actor);

-- The chain's head, updated with every append (so a removed last entry shows).
CREATE TABLE audit_head (
    one  BIGINT PRIMARY KEY NOT NULL CHECK (one = 1),
    idx  BIGINT NOT NULL,
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32)
);
INSERT INTO audit_head (one, idx, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- "Journaled on case X up to sequence N by clerk D": every filing of a
-- thread. The case reference is checked for personal data on the way in.
CREATE TABLE journal_receipts (
    id               TEXT PRIMARY KEY NOT NULL,
    thread_id        TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    case_ref         TEXT NOT NULL,
    kle              TEXT,
    up_to_seq        BIGINT NOT NULL CHECK (up_to_seq >= 1),
    manifest_sha256  BYTEA NOT NULL CHECK (octet_length(manifest_sha256) = 32),
    clerk_account_id TEXT NOT NULL,
    clerk_device_id  TEXT NOT NULL,
    journaled_at     BIGINT NOT NULL
);
CREATE INDEX journal_receipts_thread ON journal_receipts (thread_id, up_to_seq);

-- Messages deleted on purpose (retention or erasure), by position, so that
-- clients tell a deleted message from one the server lost or withheld.
CREATE TABLE removed_messages (
    thread_id  TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('retention', 'erasure')),
    removed_at BIGINT NOT NULL,
    PRIMARY KEY (thread_id, seq)
);

-- When the thread was last journaled, and an admin's hold (no purge while set).
ALTER TABLE threads ADD COLUMN journaled_at BIGINT;
ALTER TABLE threads ADD COLUMN hold_since BIGINT;
ALTER TABLE threads ADD COLUMN hold_by TEXT;

-- A team's retention policy: days after journaling, and the maximum age of
-- messages never journaled.
ALTER TABLE teams ADD COLUMN retain_journaled_days BIGINT NOT NULL DEFAULT 30
    CHECK (retain_journaled_days >= 1);
ALTER TABLE teams ADD COLUMN retain_unjournaled_days BIGINT NOT NULL DEFAULT 90
    CHECK (retain_unjournaled_days >= 1);

-- Key holders and grants, threads, messages, receipts, attachments and
-- notification rate limits (issue 4). The server stores envelopes, grants and
-- attachment blobs as opaque ciphertext: nothing here holds message text, a
-- subject, a file name or a private key.
-- Times are Unix seconds unless the column says _ms.

-- A key holder (team, citizen or archive key) and whose it is. One holder per
-- owner and kind. rotation_requested_at: a member left or a device was
-- revoked, so the next epoch is due.
CREATE TABLE holders (
    id                    TEXT PRIMARY KEY NOT NULL,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('team', 'citizen', 'archive')),
    owner_id              TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    rotation_requested_at BIGINT,
    UNIQUE (kind, owner_id)
);

-- Each epoch's public key and the signed record that published it.
CREATE TABLE holder_epochs (
    holder_id    TEXT NOT NULL REFERENCES holders (id),
    epoch        BIGINT NOT NULL CHECK (epoch >= 0),
    public_key   BYTEA NOT NULL CHECK (octet_length(public_key) = 32),
    record       BYTEA NOT NULL,
    published_by TEXT NOT NULL REFERENCES devices (id),
    published_at BIGINT NOT NULL,
    PRIMARY KEY (holder_id, epoch)
);

-- A holder epoch's private key, HPKE-sealed to one device by another.
CREATE TABLE grants (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    holder_id   TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    grant_bytes BYTEA NOT NULL,
    granted_by  TEXT NOT NULL REFERENCES devices (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, holder_id, epoch),
    FOREIGN KEY (holder_id, epoch) REFERENCES holder_epochs (holder_id, epoch)
);
CREATE INDEX grants_holder ON grants (holder_id, epoch);

-- A thread belongs to a team. last_seq is the gap-free sequence's head.
CREATE TABLE threads (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    team_id          TEXT NOT NULL REFERENCES teams (id),
    created_by       TEXT NOT NULL REFERENCES accounts (id),
    created_at       BIGINT NOT NULL,
    last_seq         BIGINT NOT NULL DEFAULT 0,
    last_activity_ms BIGINT NOT NULL,
    journaled_up_to  BIGINT
);
CREATE INDEX threads_team ON threads (team_id);
CREATE INDEX threads_org ON threads (org_id);

CREATE TABLE thread_citizens (
    thread_id  TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (thread_id, account_id)
);
CREATE INDEX thread_citizens_account ON thread_citizens (account_id);

-- The signed participant log, verified on the way in and served as is.
CREATE TABLE thread_records (
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    record    BYTEA NOT NULL,
    PRIMARY KEY (thread_id, seq)
);

CREATE TABLE messages (
    thread_id        TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL CHECK (seq >= 1),
    message_id       TEXT NOT NULL UNIQUE,
    sender_device_id TEXT NOT NULL REFERENCES devices (id),
    envelope         BYTEA NOT NULL,
    envelope_sha256  BYTEA NOT NULL,
    committed_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (thread_id, seq)
);

-- The latest delivered and read receipt of each device in each thread.
CREATE TABLE receipts (
    thread_id      TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    device_id      TEXT NOT NULL REFERENCES devices (id),
    kind           TEXT NOT NULL CHECK (kind IN ('delivered', 'read')),
    up_to_seq      BIGINT NOT NULL,
    receipt        BYTEA NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (thread_id, device_id, kind)
);

-- Encrypted attachment blobs, stored in chunks so that upload and download
-- stream on every backend. completed_at is NULL while an upload runs.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    thread_id    TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    uploaded_by  TEXT NOT NULL REFERENCES devices (id),
    size         BIGINT NOT NULL DEFAULT 0,
    sha256       BYTEA,
    created_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX attachments_thread ON attachments (thread_id);

CREATE TABLE attachment_chunks (
    attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    idx           BIGINT NOT NULL,
    data          BYTEA NOT NULL,
    PRIMARY KEY (attachment_id, idx)
);

-- When each account was last sent a content-free notification.
CREATE TABLE notifications_sent (
    account_id   TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    last_sent_at BIGINT NOT NULL
);

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
    created_at            INTEGER NOT NULL,
    rotation_requested_at INTEGER,
    UNIQUE (kind, owner_id)
) STRICT;

-- Each epoch's public key and the signed record that published it.
CREATE TABLE holder_epochs (
    holder_id    TEXT NOT NULL REFERENCES holders (id),
    epoch        INTEGER NOT NULL CHECK (epoch >= 0),
    public_key   BLOB NOT NULL CHECK (length(public_key) = 32),
    record       BLOB NOT NULL,
    published_by TEXT NOT NULL REFERENCES devices (id),
    published_at INTEGER NOT NULL,
    PRIMARY KEY (holder_id, epoch)
) STRICT;

-- A holder epoch's private key, HPKE-sealed to one device by another.
CREATE TABLE grants (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    holder_id   TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    grant_bytes BLOB NOT NULL,
    granted_by  TEXT NOT NULL REFERENCES devices (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (device_id, holder_id, epoch),
    FOREIGN KEY (holder_id, epoch) REFERENCES holder_epochs (holder_id, epoch)
) STRICT;
CREATE INDEX grants_holder ON grants (holder_id, epoch);

-- A thread belongs to a team. last_seq is the gap-free sequence's head.
CREATE TABLE threads (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    team_id          TEXT NOT NULL REFERENCES teams (id),
    created_by       TEXT NOT NULL REFERENCES accounts (id),
    created_at       INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_activity_ms INTEGER NOT NULL,
    journaled_up_to  INTEGER
) STRICT;
CREATE INDEX threads_team ON threads (team_id);
CREATE INDEX threads_org ON threads (org_id);

CREATE TABLE thread_citizens (
    thread_id  TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (thread_id, account_id)
) STRICT;
CREATE INDEX thread_citizens_account ON thread_citizens (account_id);

-- The signed participant log, verified on the way in and served as is.
CREATE TABLE thread_records (
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    record    BLOB NOT NULL,
    PRIMARY KEY (thread_id, seq)
) STRICT;

CREATE TABLE messages (
    thread_id        TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    message_id       TEXT NOT NULL UNIQUE,
    sender_device_id TEXT NOT NULL REFERENCES devices (id),
    envelope         BLOB NOT NULL,
    envelope_sha256  BLOB NOT NULL,
    committed_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (thread_id, seq)
) STRICT;

-- The latest delivered and read receipt of each device in each thread.
CREATE TABLE receipts (
    thread_id      TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    device_id      TEXT NOT NULL REFERENCES devices (id),
    kind           TEXT NOT NULL CHECK (kind IN ('delivered', 'read')),
    up_to_seq      INTEGER NOT NULL,
    receipt        BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (thread_id, device_id, kind)
) STRICT;

-- Encrypted attachment blobs, stored in chunks so that upload and download
-- stream on every backend. completed_at is NULL while an upload runs.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    thread_id    TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    uploaded_by  TEXT NOT NULL REFERENCES devices (id),
    size         INTEGER NOT NULL DEFAULT 0,
    sha256       BLOB,
    created_at   INTEGER NOT NULL,
    completed_at INTEGER
) STRICT;
CREATE INDEX attachments_thread ON attachments (thread_id);

CREATE TABLE attachment_chunks (
    attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    data          BLOB NOT NULL,
    PRIMARY KEY (attachment_id, idx)
) STRICT;

-- When each account was last sent a content-free notification.
CREATE TABLE notifications_sent (
    account_id   TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    last_sent_at INTEGER NOT NULL
) STRICT;

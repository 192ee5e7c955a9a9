-- Signed membership logs that clients replay instead of trusting the
-- server's lists (issue 12, PROTOCOL.md §7): a team's members (log 1,
-- subject: the team id) and an account's devices (log 3, subject: the
-- account id). A thread's participants (log 2) stay in thread_records.
-- Each record is checked against its log's policy on the way in and served
-- as it was signed; team_members follows the team logs. Nothing here is
-- secret: records hold ids, public keys and signatures.
CREATE TABLE membership_records (
    log         INTEGER NOT NULL CHECK (log IN (1, 3)),
    subject     TEXT NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    record      BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    PRIMARY KEY (log, subject, seq)
) STRICT;

-- Temporary passwords (issue 13): an admin's reset stores the hash of a
-- one-time password in password_hash and sets password_temporary_until;
-- until then it only lets its owner choose a new password at login, and
-- after it, nothing. NULL for a password the owner chose.
ALTER TABLE accounts ADD COLUMN password_temporary_until INTEGER;

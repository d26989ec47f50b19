-- A passkey proves level 3 (and lifts a suspension) only when it was enrolled after the
-- identity verification (finding 13.18). Times are whole seconds and can tie, so the order
-- is recorded instead of inferred: the verification time the account stood at when the
-- passkey was enrolled, read by the same statement that inserts the passkey (NULL when the
-- identity was not verified, or was suspended, at that moment).
ALTER TABLE passkeys ADD COLUMN verified_at_enrolment BIGINT;
-- Passkeys enrolled before this migration: the strict order by time they were judged by.
UPDATE passkeys SET verified_at_enrolment = (
    SELECT a.identity_verified_at FROM accounts a
    WHERE a.id = passkeys.account_id AND a.identity_verified_at < passkeys.created_at
);

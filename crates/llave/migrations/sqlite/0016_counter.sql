-- Help at the counter (issue 14, item 11). Officers belong to an office, named in what the
-- person reads ("con ayuda de <name>, <office>"): `staff_roles.office`, optional.
-- Activation codes: an officer opens an account, or restores access, for a person who is
-- present; the person takes a printed one-time code (valid 72 hours) and chooses their
-- password at /activar. Only the SHA-256 of the code is stored; a code is spent by one
-- conditional UPDATE. Kept in step with ../postgres/0016_counter.sql.

ALTER TABLE staff_roles ADD COLUMN office TEXT;

CREATE TABLE activation_codes (
    code_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    officer_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX activation_codes_by_account ON activation_codes (account_id, used_at);

-- Levels of assurance: identity verification (by an officer or a remote provider), second
-- factors (TOTP, recovery codes, WebAuthn passkeys), step-up proofs in sessions, sign-ins
-- waiting for their second step, and remote verification sessions.
-- Kept in step with ../postgres/0006_assurance.sql.

-- Level 2 holds while identity_verified_at is set and identity_lowered_at is not.
ALTER TABLE accounts ADD COLUMN identity_verified_at BIGINT;
ALTER TABLE accounts ADD COLUMN identity_lowered_at BIGINT;

-- Level 3: when this session last re-proved the person, and how.
ALTER TABLE sessions ADD COLUMN reproved_at BIGINT;

CREATE TABLE identity_verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    purpose TEXT NOT NULL,
    method TEXT NOT NULL,
    verifier TEXT NOT NULL,
    officer_account_id BIGINT REFERENCES accounts (id),
    document_kind TEXT NOT NULL,
    document_number TEXT NOT NULL,
    reference TEXT NOT NULL,
    verified_at BIGINT NOT NULL
);
CREATE INDEX identity_verifications_by_account ON identity_verifications (account_id, verified_at);

CREATE TABLE totp_factors (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id),
    secret_sealed TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_account ON passkeys (account_id);

-- A WebAuthn ceremony in progress (its server-side state, single use).
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY,
    account_id BIGINT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A password accepted, waiting for the second factor.
CREATE TABLE pending_signins (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A remote verification started with a provider; its result arrives once, signed.
CREATE TABLE verification_sessions (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    session_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    provider TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT,
    result TEXT
);
CREATE INDEX verification_sessions_by_account ON verification_sessions (account_id, created_at);

-- Electronic signatures: the hub's CAs, the certificates it issued (people's and entities'
-- seals, with their sealed keys), and every signature made.
-- Kept in step with ../postgres/0007_signatures.sql.

CREATE TABLE pki_authorities (
    name TEXT PRIMARY KEY,
    certificate TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id BIGINT REFERENCES accounts (id),
    entity_slug TEXT,
    subject TEXT NOT NULL,
    certificate TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT
);
CREATE INDEX certificates_by_account ON certificates (account_id, issued_at);
CREATE INDEX certificates_revoked ON certificates (revoked_at);

CREATE TABLE signatures (
    id TEXT PRIMARY KEY,
    account_id BIGINT REFERENCES accounts (id),
    entity_slug TEXT,
    certificate_serial TEXT NOT NULL REFERENCES certificates (serial),
    document_name TEXT NOT NULL,
    document_sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    client_id TEXT,
    signature TEXT NOT NULL,
    jws TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX signatures_by_account ON signatures (account_id, created_at);

-- A signature the person is about to make: the document's name and SHA-256, kept while
-- they authenticate afresh; spent by the signature.
CREATE TABLE signing_acts (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    document_name TEXT NOT NULL,
    document_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    signature_id TEXT
);

-- An entity asks a person to sign: the document's SHA-256 and a summary, where to send the
-- person back, and the one-time code the entity exchanges for the signature.
CREATE TABLE signature_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    document_name TEXT NOT NULL,
    document_sha256 TEXT NOT NULL,
    summary TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT,
    subject TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    account_id BIGINT REFERENCES accounts (id),
    signature_id TEXT,
    outcome TEXT,
    code_hash TEXT UNIQUE,
    code_expires_at BIGINT,
    code_used_at BIGINT
);

-- Hub and spokes: what the hub keeps about entity records. Record *contents* never live
-- here: each entity's records are in a store of its own (a database file per entity, see
-- records/spoke.rs), encrypted with the entity's data key. The hub keeps where each
-- entity's store is and its wrapped data key, an index of record locators (who, which
-- kind, which version, valid when — no contents), consents to reuse, single-use read
-- grants, the append-only access log, and ARCO requests.
-- Kept in step with ../postgres/0008_records.sql.

CREATE TABLE entity_stores (
    entity_id BIGINT PRIMARY KEY REFERENCES entities (id),
    location TEXT NOT NULL,
    data_key_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The pairwise subject identifiers llave gave each entity, so an entity can name a person
-- by the `sub` it knows.
CREATE TABLE entity_subjects (
    entity_id BIGINT NOT NULL REFERENCES entities (id),
    sub TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (entity_id, sub)
);

CREATE TABLE record_index (
    record_id TEXT PRIMARY KEY,
    entity_id BIGINT NOT NULL REFERENCES entities (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    procedure_slug TEXT,
    version BIGINT NOT NULL,
    valid_from TEXT,
    valid_until TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX record_index_by_person ON record_index (account_id, kind);

CREATE TABLE reuse_consents (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    reader_entity_id BIGINT NOT NULL REFERENCES entities (id),
    procedure_slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    holder_entity_id BIGINT NOT NULL REFERENCES entities (id),
    granted_at BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX reuse_consents_by_person ON reuse_consents (account_id, reader_entity_id, procedure_slug, kind);
-- One standing consent per reader, procedure, kind and holder (a double submit adds one).
CREATE UNIQUE INDEX reuse_consents_standing ON reuse_consents
    (account_id, reader_entity_id, procedure_slug, kind, holder_entity_id) WHERE withdrawn_at IS NULL;

CREATE TABLE record_grants (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    record_id TEXT NOT NULL REFERENCES record_index (record_id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    reader_entity_id BIGINT NOT NULL REFERENCES entities (id),
    reader_client_id TEXT NOT NULL,
    procedure_slug TEXT NOT NULL,
    basis TEXT NOT NULL,
    consent_id TEXT,
    legal_basis TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX record_grants_expiry ON record_grants (expires_at);

CREATE TABLE record_access (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    account_id BIGINT REFERENCES accounts (id),
    record_id TEXT,
    holder_entity_id BIGINT,
    reader_kind TEXT NOT NULL,
    reader_entity_id BIGINT,
    reader TEXT NOT NULL,
    procedure_slug TEXT,
    purpose TEXT NOT NULL,
    legal_basis TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX record_access_by_person ON record_access (account_id, at);
CREATE INDEX record_access_by_reader ON record_access (reader_entity_id, at);

CREATE TRIGGER record_access_no_update BEFORE UPDATE ON record_access
BEGIN SELECT RAISE(ABORT, 'record_access is append-only'); END;
CREATE TRIGGER record_access_no_delete BEFORE DELETE ON record_access
BEGIN SELECT RAISE(ABORT, 'record_access is append-only'); END;

CREATE TABLE arco_requests (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    record_id TEXT REFERENCES record_index (record_id),
    entity_id BIGINT NOT NULL REFERENCES entities (id),
    arco_right TEXT NOT NULL,
    message TEXT NOT NULL,
    filed_at BIGINT NOT NULL,
    due_date TEXT NOT NULL,
    status TEXT NOT NULL,
    answer TEXT,
    answered_at BIGINT,
    answered_by TEXT
);
CREATE INDEX arco_requests_by_entity ON arco_requests (entity_id, status, due_date);
CREATE INDEX arco_requests_by_person ON arco_requests (account_id, filed_at);

-- Accountable requisitions (issue 16, "Requisitions"; docs/requisitions.md).
-- `requesting_authorities`: the requesting authorities (a prosecutor's office, a court, the tax
-- authority) with the X.509 certificate their packages are encrypted to.
-- `requisitions`: one authority's request for one person's records, its two approvals (or
-- a rejection), its non-disclosure order and any extension waiting for its approvals, the
-- one delivery (which records, the package's SHA-256: the hub keeps no copy) and the
-- authority's destruction attestation, due by a deadline set at approval.
-- Requisition events stay off the person's security page (the view below) until the
-- non-disclosure order ends: the file shows them from the requisitions table instead.
-- Kept in step with ../postgres/0017_requisitions.sql.

CREATE TABLE requesting_authorities (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    mandate TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE requisitions (
    id TEXT PRIMARY KEY,
    authority_slug TEXT NOT NULL REFERENCES requesting_authorities (slug),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    requester_id BIGINT NOT NULL REFERENCES accounts (id),
    kinds TEXT NOT NULL,
    date_from TEXT NOT NULL,
    date_to TEXT NOT NULL,
    law TEXT NOT NULL,
    article TEXT NOT NULL,
    case_number TEXT NOT NULL,
    justification TEXT NOT NULL,
    nondisclosure_until BIGINT,
    status TEXT NOT NULL,
    filed_at BIGINT NOT NULL,
    first_approver_id BIGINT REFERENCES accounts (id),
    first_approved_at BIGINT,
    second_approver_id BIGINT REFERENCES accounts (id),
    second_approved_at BIGINT,
    rejected_by BIGINT REFERENCES accounts (id),
    rejected_at BIGINT,
    rejection_reason TEXT,
    attestation_due BIGINT,
    delivered_at BIGINT,
    delivered_records TEXT,
    package_sha256 TEXT,
    attested_at BIGINT,
    attestation TEXT,
    attestation_basis TEXT,
    extension_until BIGINT,
    extension_requested_at BIGINT,
    extension_approver_id BIGINT REFERENCES accounts (id)
);
CREATE INDEX requisitions_by_account ON requisitions (account_id);
CREATE INDEX requisitions_by_status ON requisitions (status, filed_at);

DROP VIEW security_events;
CREATE VIEW security_events AS
    SELECT id, at, kind, account_id, client_address, user_agent, COALESCE(detail, '') AS detail
    FROM events WHERE kind NOT IN ('record_access', 'tokens_issued') AND kind NOT LIKE 'requisition%';

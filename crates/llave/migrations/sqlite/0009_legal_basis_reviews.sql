-- Legal reviewers' decisions on the legal bases that would let an entity reuse records
-- without the person's consent (see crates/llave/src/catalog/review.rs). A decision is on
-- one text of one basis: `fingerprint` names the law, the article, the entity and the
-- requirement kinds it was decided for, so any change to those leaves the basis pending
-- again. One decision per reviewer (a reviewer may change their mind; the history keeps
-- each). Kept in step with ../postgres/0009_legal_basis_reviews.sql.

CREATE TABLE legal_basis_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    procedure_id BIGINT NOT NULL REFERENCES procedures (id),
    fingerprint TEXT NOT NULL,
    reviewer_account_id BIGINT NOT NULL REFERENCES accounts (id),
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    at BIGINT NOT NULL,
    CONSTRAINT legal_basis_reviews_one_per_reviewer UNIQUE (procedure_id, fingerprint, reviewer_account_id)
);

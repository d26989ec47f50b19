-- Consent artefacts (issue 17, items 3 to 6; docs/third-parties.md).
-- `authorization_codes.sharing`: what the person allowed a third party on the consent page
-- (RFC 9396 `data_sharing` details narrowed to the ticked items, with where each record
-- comes from and the grant-management action), carried by the code to the token endpoint.
-- `consent_artefacts`: one row per artefact the hub signed. `grant_id` is the Grant
-- Management grant (stable across `merge` and `replace`); `token_grant_id` the grants row
-- whose tokens the artefact covers (revoked with it); `state` ACTIVE, PAUSED or REVOKED
-- (EXPIRED is read off `expires_at`); `superseded_by`: the artefact that replaced it.
-- `fetches`, `refusals` and `last_fetch_at` count the uses, each also an event. `kid`: the
-- hub key that signed it, kept published in the JWKS until `proof_until` (its expiry plus
-- the data life the person allowed: as long as the third party may need to prove it).
-- Kept in step with ../postgres/0021_consent_artefacts.sql.

ALTER TABLE authorization_codes ADD COLUMN sharing TEXT;

CREATE TABLE consent_artefacts (
    id TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    token_grant_id TEXT NOT NULL REFERENCES grants (id),
    client_id TEXT NOT NULL REFERENCES clients (client_id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    subject TEXT NOT NULL,
    purpose TEXT NOT NULL,
    details TEXT NOT NULL,
    jws TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    state_at BIGINT NOT NULL,
    superseded_by TEXT,
    fetches BIGINT NOT NULL DEFAULT 0,
    refusals BIGINT NOT NULL DEFAULT 0,
    last_fetch_at BIGINT,
    kid TEXT NOT NULL,
    proof_until BIGINT NOT NULL,
    CONSTRAINT consent_artefacts_state CHECK (state IN ('ACTIVE', 'PAUSED', 'REVOKED'))
);
CREATE INDEX consent_artefacts_by_account ON consent_artefacts (account_id);
CREATE INDEX consent_artefacts_by_grant ON consent_artefacts (grant_id);
CREATE INDEX consent_artefacts_by_token_grant ON consent_artefacts (token_grant_id);
CREATE INDEX consent_artefacts_by_kid ON consent_artefacts (kid, proof_until);

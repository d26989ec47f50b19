-- Third parties and FAPI 2.0 (issue 17, items 1 and 2; docs/third-parties.md).
-- `third_parties`: organisations outside government (a bank, an employer, a landlord, a
-- university) registered apart from entities, with the purpose codes they may ask for.
-- `clients`: a client belongs to an entity or to a third party, never both; a third party's
-- client is held to the FAPI 2.0 Security Profile (`fapi`), may have to sign its requests
-- (`require_jar`, FAPI 2.0 Message Signing) and names where it is notified (`notify_uri`).
-- `authorization_codes.dpop_jkt` and `grants.dpop_jkt`: the JWK thumbprint (RFC 7638) a code,
-- and the tokens of a grant, are bound to (RFC 9449). DPoP proofs' `jti`s are spent in
-- `used_jtis`, beside client assertions', so every node shares them.
-- Kept in step with ../sqlite/0020_third_parties.sql.

CREATE TABLE third_parties (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    tax_id TEXT NOT NULL,
    purposes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT third_parties_slug_unique UNIQUE (slug)
);

ALTER TABLE clients ALTER COLUMN entity_id DROP NOT NULL;
ALTER TABLE clients ADD COLUMN third_party_id BIGINT REFERENCES third_parties (id);
ALTER TABLE clients ADD COLUMN notify_uri TEXT;
ALTER TABLE clients ADD COLUMN require_jar BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN fapi BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD CONSTRAINT clients_one_owner CHECK ((entity_id IS NULL) <> (third_party_id IS NULL));

ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;
